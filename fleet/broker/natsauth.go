package broker

import (
	"fmt"
	"strings"

	"golang.org/x/crypto/bcrypt"

	"github.com/polis-edge/polis/fleet/config"
	"github.com/polis-edge/polis/protocols/uplink"
)

// NATSAuthorization renders the `authorization { users: […] }` block that a
// NATS cluster includes, generated from the fleet's registry, so the fleet
// stays the source of truth for office credentials and the cluster enforces
// them without calling back: each office may publish and subscribe only under
// its own prefix (polis.v1.<office>.>, which is MQTT polis/v1/<office>/#), and
// the fleet user may do everything. Passwords are stored as bcrypt hashes.
//
// Generated accounts rather than an auth callout: a callout puts the fleet on
// the path of every edge connection, so a reconnect storm of 7,000 offices
// would wait on fleet instances that are themselves restarting. A generated
// file is reloaded by `nats-server --signal reload` when the registry changes.
//
// Offices registered only with password_sha256 cannot be converted (the
// cluster needs the password or a bcrypt hash) and are reported.
func NATSAuthorization(offices []config.Office, fleetUser, fleetPassword string) (string, error) {
	var b strings.Builder
	b.WriteString("authorization {\n  users: [\n")
	user := func(name, password, perms string) error {
		// The lowest work factor: these are long machine-made secrets, not
		// people's passwords, and the cluster checks the hash on every connect:
		// at the default cost a reconnect storm of 7,000 offices would spend
		// minutes of CPU on bcrypt alone.
		h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "    {user: %q, password: %q%s}\n", name, h, perms)
		return nil
	}
	if fleetUser == "" || fleetPassword == "" {
		return "", fmt.Errorf("the fleet's own NATS user and password are required")
	}
	if err := user(fleetUser, fleetPassword, ""); err != nil {
		return "", err
	}
	var missing []string
	for _, o := range offices {
		if err := uplink.ValidOffice(o.ID); err != nil {
			return "", err
		}
		if o.Password == "" {
			missing = append(missing, o.ID)
			continue
		}
		own := fmt.Sprintf("%q", "polis.v1."+o.ID+".>")
		perms := fmt.Sprintf(", permissions: {publish: {allow: [%s]}, subscribe: {allow: [%s]}}", own, own)
		if err := user(o.ID, o.Password, perms); err != nil {
			return "", err
		}
	}
	b.WriteString("  ]\n}\n")
	if len(missing) > 0 {
		return b.String(), fmt.Errorf("offices without a plain password cannot be given NATS credentials: %s", strings.Join(missing, ", "))
	}
	return b.String(), nil
}

package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/polis-edge/polis/fleet/config"
	"github.com/polis-edge/polis/fleet/state"
	"github.com/polis-edge/polis/fleet/users"
)

const userUsage = `usage:
  polis-fleet user add    [-config f.yaml | -data-dir DIR] -role viewer|operator|admin [-region R [-provinces PZ,MT]] NAME
  polis-fleet user passwd [-config f.yaml | -data-dir DIR] NAME
  polis-fleet user del    [-config f.yaml | -data-dir DIR] NAME
  polis-fleet user list   [-config f.yaml | -data-dir DIR]
  polis-fleet user token  [-config f.yaml | -data-dir DIR] -name LABEL NAME
The password is read from the first line of standard input. The state file
is locked by a running polis-fleet: stop it first, or use the HTTP API
(POST /api/v1/users) as an admin.`

// userCmd manages the fleet's users directly in the state file.
func userCmd(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New(userUsage)
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("polis-fleet user "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "fleet config file (its data_dir holds the users)")
	dataDir := fs.String("data-dir", "", "state directory (overrides the config's data_dir)")
	role := fs.String("role", "", "viewer, operator or admin (add)")
	region := fs.String("region", "", "scope: one region (add; empty = whole fleet)")
	provinces := fs.String("provinces", "", "scope: comma-separated provinces of -region (add)")
	label := fs.String("name", "", "label of the API token (token)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	dir := *dataDir
	if dir == "" && *path != "" {
		cfg, err := config.Load(*path)
		if err != nil {
			return err
		}
		dir = cfg.DataDir
	}
	if dir == "" {
		return errors.New("user: give -data-dir or a -config with data_dir")
	}
	name := fs.Arg(0)
	if sub != "list" && (fs.NArg() != 1 || name == "") {
		return errors.New(userUsage)
	}
	st, err := state.Open(dir)
	if err != nil {
		return fmt.Errorf("%w (is polis-fleet running on this data_dir?)", err)
	}
	defer st.Close()
	u := users.New(st)
	switch sub {
	case "add":
		r, err := users.ParseRole(*role)
		if err != nil {
			return err
		}
		scope := users.Scope{Region: *region}
		if *provinces != "" {
			scope.Provinces = strings.Split(*provinces, ",")
		}
		pw, err := readPassword(stdin)
		if err != nil {
			return err
		}
		if err := u.Add(name, pw, r, scope); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "user %s added: %s, scope %s\n", name, r, scope)
	case "passwd":
		pw, err := readPassword(stdin)
		if err != nil {
			return err
		}
		if err := u.SetPassword(name, pw); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "password of %s changed; its sessions are signed out\n", name)
	case "del":
		if err := u.Delete(name); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "user %s deleted with its sessions and API tokens\n", name)
	case "list":
		list, err := u.List()
		if err != nil {
			return err
		}
		for _, x := range list {
			fmt.Fprintf(stdout, "%s\t%s\t%s\n", x.Name, x.Role, x.Scope)
		}
	case "token":
		if *label == "" {
			return errors.New("token: -name LABEL is required")
		}
		secret, _, err := u.NewToken(name, *label)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, secret)
	default:
		return fmt.Errorf("unknown user command %q\n%s", sub, userUsage)
	}
	return nil
}

func readPassword(r io.Reader) (string, error) {
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read password: %w", err)
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("read password: give it on the first line of standard input")
	}
	return line, nil
}

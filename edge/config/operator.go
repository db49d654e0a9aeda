package config

import (
	"fmt"
	"os"
	"strings"
)

// Operator is a person or script allowed to act through the edge's local HTTP
// API (an installer on site, the fleet's remote commands). Reading status and
// health stays open on the loopback listener; every route that changes
// something names the role it needs.
type Operator struct {
	Name      string `yaml:"name"`       // recorded in the audit trail
	Token     string `yaml:"token"`      // bearer token; prefer token_file
	TokenFile string `yaml:"token_file"` // file holding the token (first line)
	Role      string `yaml:"role"`       // viewer, operator or admin
}

// Operator roles, weakest first: each includes the rights of the ones before.
var OperatorRoles = []string{"viewer", "operator", "admin"}

// RoleRank orders roles; -1 for an unknown role.
func RoleRank(role string) int {
	for i, r := range OperatorRoles {
		if r == role {
			return i
		}
	}
	return -1
}

// Secret returns the operator's token, reading token_file when set.
func (o Operator) Secret() (string, error) {
	if o.TokenFile == "" {
		return o.Token, nil
	}
	b, err := os.ReadFile(o.TokenFile)
	if err != nil {
		return "", fmt.Errorf("operator %s token_file: %w", o.Name, err)
	}
	tok, _, _ := strings.Cut(string(b), "\n")
	return strings.TrimSpace(tok), nil
}

// minTokenLen keeps guessable tokens out: 16 characters of a random token is
// far beyond what a rate-unlimited local attacker can enumerate.
const minTokenLen = 16

func validateOperators(ops []Operator, bad func(key, format string, a ...any)) {
	names := map[string]bool{}
	for i, o := range ops {
		key := fmt.Sprintf("http.operators[%d]", i)
		switch {
		case o.Name == "":
			bad(key+".name", "must not be empty")
		case names[o.Name]:
			bad(key+".name", "%q is used twice", o.Name)
		}
		names[o.Name] = true
		if RoleRank(o.Role) < 0 {
			bad(key+".role", "want one of %s, got %q", strings.Join(OperatorRoles, ", "), o.Role)
		}
		if (o.Token == "") == (o.TokenFile == "") {
			bad(key, "set exactly one of token and token_file")
			continue
		}
		if o.Token != "" && len(o.Token) < minTokenLen {
			bad(key+".token", "must be at least %d characters", minTokenLen)
		}
	}
}

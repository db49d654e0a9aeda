package config

import "github.com/polis-edge/polis/rules"

// The `rules:` section (docs/energy-rules.md) is owned by the rules package;
// these hooks apply its defaults and validation. It reloads on SIGHUP.

func (c *Config) rulesDefaults() {
	if c.Rules != nil {
		c.Rules.ApplyDefaults()
	}
}

func (c Config) validateRules() []string {
	if c.Rules == nil {
		return nil
	}
	if err := c.Rules.Validate(); err != nil {
		return []string{err.Error()}
	}
	return nil
}

// RulesConfig is the rules section, nil when the office runs none.
func (c Config) RulesConfig() *rules.Config { return c.Rules }

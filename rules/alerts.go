package rules

import "fmt"

func validateAlerts(as []AlertConfig) []string {
	var errs []string
	names := map[string]bool{}
	for i, a := range as {
		key := fmt.Sprintf("rules.alerts[%d]", i)
		if a.Name == "" {
			errs = append(errs, key+".name: must not be empty")
		} else if names[a.Name] {
			errs = append(errs, fmt.Sprintf("%s.name: duplicate %q", key, a.Name))
		}
		names[a.Name] = true
		if a.When == "" {
			errs = append(errs, key+".when: must not be empty")
		}
	}
	return errs
}

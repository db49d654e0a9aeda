package config

import "testing"

// FuzzParse: any config file either fails with an error or yields a
// config that validates; Parse never panics. Seeds:
// testdata/fuzz/FuzzParse and below.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"office: {id: '12345'}\nbuffer: {max_bytes: 64MiB}\n",
		"buffer: {max_bytes: 17179869185GiB}\n",
		"mqtt: {listen: nonsense, limits: {max_payload: 17179869185GiB}}\n",
		"office: {id: '1'}\n---\noffice: {id: '2'}\n",
		"mqtt:\n  devices:\n    - {id: th, password: p, preset: zigbee2mqtt}\n    - {id: b1, kind: locker, password: q}\n",
		"modbus: {}\nocpp: {}\n",
		"&a [*a]", "{", "",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse(data)
		if err != nil {
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("Parse accepted a config that does not validate: %v", err)
		}
	})
}

package config

import "testing"

// FuzzParse: any fleet config either fails with an error or yields a
// config that validates; Parse never panics. Seeds:
// testdata/fuzz/FuzzParse and below.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"influx: {url: 'http://127.0.0.1:8086'}\n",
		"offices: [{id: '12345', password: x}]\n",
		"mqtt: {listen: nonsense}\n",
		"a: 1\n---\nb: 2\n",
		"&a [*a]", "{", "",
	} {
		f.Add([]byte(s))
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse(data, dir)
		if err != nil {
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("Parse accepted a config that does not validate: %v", err)
		}
	})
}

package sample

import (
	"bytes"
	"math"
	"strconv"
	"time"
	"unicode/utf8"
	"unsafe"
)

// checkPlain is Check's fast path for the lines edges write: no escapes,
// one space between sections, plain numbers, bools and strings without a
// backslash, a timestamp. It walks the bytes once without the decoder,
// which allocated a fresh 512-byte buffer per line and was most of the
// fleet's CPU per batch. It answers ok=false for anything else, valid or
// not, and Check then asks the decoder: the fast path may only accept what
// the decoder accepts, with the same LineInfo (TestPlainPathAgreesWithDecoder).
func checkPlain(raw []byte, tagKey func(key []byte)) (LineInfo, bool) {
	var info LineInfo
	i := plainName(raw, 0)
	if i == 0 || raw[0] == '#' || i >= len(raw) {
		return info, false
	}
	m := raw[:i]
	for raw[i] == ',' { // tags
		k := i + 1
		e := plainName(raw, k)
		if e == k || e >= len(raw) || raw[e] != '=' {
			return info, false
		}
		v := e + 1
		i = plainName(raw, v)
		if i == v || i >= len(raw) {
			return info, false
		}
		if string(raw[k:e]) == TagOffice {
			info.Office = string(raw[v:i])
		}
	}
	if raw[i] != ' ' {
		return info, false
	}
	info.KeyEnd = i
	for { // fields
		k := i + 1
		e := plainName(raw, k)
		if e == k || e >= len(raw) || raw[e] != '=' {
			return info, false
		}
		var ok bool
		if i, ok = plainValue(raw, e+1, &info); !ok || i >= len(raw) {
			return info, false
		}
		if raw[i] == ' ' {
			break
		}
		if raw[i] != ',' {
			return info, false
		}
	}
	ts, err := strconv.ParseInt(unsafeString(raw[i+1:]), 10, 64)
	if err != nil || raw[i+1] == '+' {
		return info, false
	}
	t := time.Unix(0, ts)
	if t.Before(MinTime) || !t.Before(MaxTime) {
		return info, false
	}
	if !utf8.Valid(raw[:i]) { // names and strings: the decoder refuses broken UTF-8
		return info, false
	}
	if tagKey != nil && len(m) < info.KeyEnd { // only now: the decoder's path would call it again
		for kv := range bytes.SplitSeq(raw[len(m)+1:info.KeyEnd], []byte(",")) {
			k, _, _ := bytes.Cut(kv, []byte("="))
			tagKey(k)
		}
	}
	info.Measurement, info.Time = string(m), t
	return info, true
}

// plainName returns the end of the name starting at i: printable ASCII or
// any byte above it, without the separators and escape characters.
func plainName(raw []byte, i int) int {
	for ; i < len(raw); i++ {
		switch c := raw[i]; {
		case c <= ' ', c == 0x7f, c == ',', c == '=', c == '\\', c == '"':
			return i
		}
	}
	return i
}

// plainValue checks the field value starting at i and returns its end.
func plainValue(raw []byte, i int, info *LineInfo) (int, bool) {
	if i >= len(raw) {
		return i, false
	}
	if raw[i] == '"' {
		for j := i + 1; j < len(raw); j++ {
			switch raw[j] {
			case '\\':
				return j, false
			case '"':
				return j + 1, true
			}
		}
		return len(raw), false
	}
	end := i
	for end < len(raw) && raw[end] != ',' && raw[end] != ' ' {
		end++
	}
	v := unsafeString(raw[i:end])
	switch raw[i] {
	case 't', 'T', 'f', 'F':
		switch v {
		case "t", "T", "true", "True", "TRUE", "f", "F", "false", "False", "FALSE":
			return end, true
		}
		return end, false
	}
	if !plainNumber(v) {
		return end, false
	}
	switch v[len(v)-1] {
	case 'i':
		_, err := strconv.ParseInt(v[:len(v)-1], 10, 64)
		return end, err == nil
	case 'u':
		n, err := strconv.ParseUint(v[:len(v)-1], 10, 64)
		info.HasUint = true
		return end, err == nil && n <= math.MaxInt64
	}
	if simpleDecimal(v) {
		return end, true
	}
	f, err := strconv.ParseFloat(v, 64)
	return end, err == nil && !math.IsNaN(f) && !math.IsInf(f, 0)
}

// simpleDecimal reports whether v is -?digits(.digits)? in at most 300
// bytes. strconv reads every such string as a finite float (overflowing
// needs over 308 digits), so it needs no parse; most fields the edges send
// look like this, and ParseFloat was a third of Check's time in a drain.
func simpleDecimal(v string) bool {
	if len(v) > 300 {
		return false
	}
	i := 0
	if i < len(v) && v[i] == '-' {
		i++
	}
	j := skipDigits(v, i)
	if j == i {
		return false
	}
	if j < len(v) && v[j] == '.' {
		k := skipDigits(v, j+1)
		if k == j+1 {
			return false
		}
		j = k
	}
	return j == len(v)
}

// skipDigits returns the index of the first non-digit of v at or after i.
func skipDigits(v string, i int) int {
	for i < len(v) && v[i] >= '0' && v[i] <= '9' {
		i++
	}
	return i
}

// plainNumber: digits with an optional sign, point, exponent and i or u
// suffix; nothing strconv would read as hex, Inf, NaN or with underscores.
func plainNumber(v string) bool {
	if v == "" {
		return false
	}
	for j := 0; j < len(v); j++ {
		switch c := v[j]; {
		case c >= '0' && c <= '9', c == '.', c == '-', c == 'e', c == 'E':
		case c == '+' && j > 0:
		case (c == 'i' || c == 'u') && j == len(v)-1 && j > 0:
		default:
			return false
		}
	}
	return v[0] == '-' || v[0] == '.' || (v[0] >= '0' && v[0] <= '9')
}

// unsafeString views b as a string for strconv, which does not keep it.
func unsafeString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

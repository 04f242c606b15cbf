package webhooksecrets

import (
	"strings"
	"testing"
)

func TestParseKey(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{
		"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
		"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
		"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8",
		" AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n",
	} {
		k, err := ParseKey(ok)
		if err != nil || len(k) != KeySize || k[31] != 31 {
			t.Errorf("ParseKey(%q) = %x, %v", ok, k, err)
		}
	}
	for _, bad := range []string{"", "short", strings.Repeat("zz", 32), "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg=="} {
		if _, err := ParseKey(bad); err == nil {
			t.Errorf("ParseKey(%q) accepted", bad)
		} else if bad != "" && strings.Contains(err.Error(), bad) {
			t.Errorf("ParseKey echoes the key: %v", err)
		}
	}
}

func TestMask(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"whsec_abcdefghijklmnopqrstuvwxyz0123456789ABCD": "whsec_…ABCD",
		"0123456789abcdef":    "…cdef",
		"ünïcödé-secret-ßßßß": "…ßßßß",
		"short":               "…",
	} {
		if got := Mask(in); got != want {
			t.Errorf("Mask(%q) = %q, want %q", in, got, want)
		}
	}
}

package compat

import "testing"

// TestLocalPath: the trailing-slash redirect's Location is a path on this
// host whatever path it is given, even one the router would not pass it.
func TestLocalPath(t *testing.T) {
	for _, tt := range []struct{ name, in, want string }{
		{"plain", "/api/token/verify/", "/api/token/verify/"},
		{"double slash", "//evil.example/x/", "/evil.example/x/"},
		{"many slashes", "////evil.example/", "/evil.example/"},
		{"slash backslash", `/\evil.example/`, "/evil.example/"},
		{"backslash slash", `\/evil.example/`, "/evil.example/"},
		{"mixed", `/\/\evil.example/`, "/evil.example/"},
		{"empty", "", "/"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := localPath(tt.in); got != tt.want {
				t.Errorf("localPath(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

package main

import "testing"

// Not an input of the build (inputs exclude *_test.go): editing it rebuilds nothing.
func TestHandle(t *testing.T) {
	out, err := handle([]byte(`{"name": "forge"}`))
	if err != nil || string(out) != `{"message":"hello, forge"}` {
		t.Fatalf("got %s, %v", out, err)
	}
}

package backend

import "testing"

func TestParsePJRTOptions(t *testing.T) {
	m, err := parsePJRTOptions("preallocate=false, memory_fraction=0.3,allocator=platform,collective_memory_size=1024")
	if err != nil {
		t.Fatal(err)
	}
	if m["preallocate"] != false || m["memory_fraction"] != float32(0.3) || m["allocator"] != "platform" || m["collective_memory_size"] != int64(1024) {
		t.Errorf("parsed %#v", m)
	}
	if _, err := parsePJRTOptions("preallocate"); err == nil {
		t.Error("an option without a value was accepted")
	}
	if _, ok, _ := newXLAWithOptions("go"); ok {
		t.Error("options applied to the pure-Go backend")
	}
}

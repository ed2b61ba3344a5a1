package status

import (
	"encoding/json"
	"maps"
	"net/netip"
	"reflect"
	"testing"

	"github.com/heraldlb/herald/internal/ipam"
	"github.com/heraldlb/herald/internal/model"
)

// A snapshot published with results reads, and travels as JSON, exactly as the rendered rows
// would; what the CLI decodes is those rows.
func TestServicesRenderedWhenRead(t *testing.T) {
	results := []ipam.Result{
		{Service: model.ServiceKey{Namespace: "shop", Name: "web"}, Satisfied: true, Reason: ipam.Satisfied,
			Addrs: []netip.Addr{netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("2001:db8::1")}, Pools: []string{"lan", "lan6"}},
		{Service: model.ServiceKey{Namespace: "shop", Name: "db"}, Reason: ipam.OutOfIPs, Message: "pool lan is full"},
	}
	want := []Service{
		{Namespace: "shop", Name: "web", IPs: []string{"10.0.0.1", "2001:db8::1"}, Pools: []string{"lan", "lan6"}, Satisfied: true, Reason: "satisfied"},
		{Namespace: "shop", Name: "db", IPs: []string{}, Reason: "out_of_ips", Message: "pool lan is full"},
	}
	s := ServicesOf(results)
	if s.Len() != 2 || !reflect.DeepEqual(s.Rows(), want) {
		t.Fatalf("rows %d %+v, want %+v", s.Len(), s.Rows(), want)
	}
	if got := s.ByReason(); !maps.Equal(got, map[string]int{"satisfied": 1, "out_of_ips": 1}) {
		t.Fatalf("by reason %v", got)
	}
	if got := ServiceRows(want...).ByReason(); !maps.Equal(got, map[string]int{"satisfied": 1, "out_of_ips": 1}) {
		t.Fatalf("rows by reason %v", got)
	}
	var all []Service
	for r := range s.All() {
		all = append(all, r)
	}
	if !reflect.DeepEqual(all, want) {
		t.Fatalf("All yielded %+v", all)
	}
	for r := range s.All() {
		if r.Name != "web" {
			t.Fatal("All went on after the loop stopped")
		}
		break
	}

	data, err := json.Marshal(&Snapshot{Services: s})
	if err != nil {
		t.Fatal(err)
	}
	direct, _ := json.Marshal(struct {
		S []Service `json:"services"`
	}{want})
	var got, exp map[string]any
	_ = json.Unmarshal(data, &got)
	_ = json.Unmarshal(direct, &exp)
	if !reflect.DeepEqual(got["services"], exp["services"]) {
		t.Fatalf("JSON %s, want %s", data, direct)
	}
	var back Snapshot
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if back.Services.Len() != 2 || !reflect.DeepEqual(back.Services.Rows(), want) {
		t.Fatalf("decoded %+v", back.Services.Rows())
	}

	// No Services is an empty list, not null, for every client that iterates it.
	if data, _ := json.Marshal(Services{}); string(data) != "[]" {
		t.Fatalf("no Services marshal as %s", data)
	}
}

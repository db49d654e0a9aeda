package history

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/polis-edge/polis/fleet/config"
	"github.com/polis-edge/polis/protocols/testserver"
)

func find(l Live, m, dev, conn string) *LiveRow {
	for i, r := range l.Rows {
		if r.Measurement == m && r.Device == dev && r.Connector == conn {
			return &l.Rows[i]
		}
	}
	return nil
}

// TestOfficeLive: the latest value of each field with its own time, stale
// marks (periodic readings by age, on-change ones by the office's silence),
// the session in progress and the rules' allocation joined to the charger's
// connector, sensor fields as mapped, and nothing from another office.
func TestOfficeLive(t *testing.T) {
	in := testserver.Influx(t)
	now := time.Now().Truncate(time.Millisecond)
	ms := func(d time.Duration) int64 { return now.Add(-d).UnixMilli() }
	tags := ",office=30001,region=Basilicata,province=PZ"
	write(t, in, []string{
		fmt.Sprintf("pv,device=inv1%s ac_power_w=4000,limit_pct=60,limit_active=true,state=\"throttled\" %d", tags, ms(time.Hour)),
		fmt.Sprintf("pv,device=inv1%s ac_power_w=4200 %d", tags, ms(10*time.Second)),
		fmt.Sprintf("pv,device=inv1,string=1%s dc_power_w=3000 %d", tags, ms(5*time.Second)),
		fmt.Sprintf("grid,device=m1%s power_w=-1500,import_power_w=0,export_power_w=1500 %d", tags, ms(3*time.Hour)),
		// A meter whose clock runs two minutes ahead (within the ingest's tolerance).
		fmt.Sprintf("grid,device=m2%s power_w=800 %d", tags, ms(-2*time.Minute)),
		fmt.Sprintf("evse,device=CP01,connector=1%s status=\"Charging\" %d", tags, ms(2*time.Hour)),
		fmt.Sprintf("session,device=CP01,connector=1,group=fleet%s state=\"started\",transaction_id=\"tx9\",id_tag=\"VAN7\",meter_start_wh=1000 %d", tags, ms(2*time.Hour)),
		fmt.Sprintf("evse,device=CP01,connector=1%s power_w=7100,offered_a=16,session_energy_wh=5200,transaction_id=\"tx9\" %d", tags, ms(20*time.Second)),
		fmt.Sprintf("evse,device=CP01,connector=2%s status=\"Available\" %d", tags, ms(48*time.Hour)),
		fmt.Sprintf("session,device=CP01,connector=2,group=public%s state=\"stopped\",transaction_id=\"tx8\",energy_wh=3000 %d", tags, ms(49*time.Hour)),
		fmt.Sprintf("rules,device=CP01,connector=1%s limit_a=16,reason=\"headroom\",mode=\"now\",actuation=\"confirmed\" %d", tags, ms(5*time.Second)),
		fmt.Sprintf("rules,device=rules%s budget_w=11000,failsafe=false,band=\"F1\" %d", tags, ms(5*time.Second)),
		fmt.Sprintf("env,device=th-hall,room=hall%s temperature_c=22.5,co2_ppm=880 %d", tags, ms(time.Minute)),
		fmt.Sprintf("env,device=noise%s noise_db=41 %d", tags, ms(time.Minute)),
		fmt.Sprintf("locker,device=locker1%s online=true,power=\"mains\",compartments=40i,occupied=12i,open=1i %d", tags, ms(30*time.Second)),
		fmt.Sprintf("locker_compartment,device=locker1,compartment=7%s state=\"occupied\",door_open=true %d", tags, ms(30*time.Minute)),
		// Another office: never on this office's page.
		fmt.Sprintf("evse,device=CP99,connector=1,office=10001,region=Lazio,province=RM status=\"Faulted\" %d", ms(time.Minute)),
		fmt.Sprintf("pv,device=inv1,office=10001,region=Lazio,province=RM ac_power_w=999999 %d", ms(time.Second)),
	})
	c := New(config.Influx{URL: in.URL, Token: in.Token, Bucket: in.Bucket, Timeout: 10 * time.Second})
	live, err := c.OfficeLive(context.Background(), "30001", now, now.Add(-10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	pv := find(live, "pv", "inv1", "")
	if pv == nil || pv.Values["ac_power_w"].V != 4200.0 || pv.Values["ac_power_w"].Stale || pv.Values["limit_pct"].V != 60.0 ||
		!pv.Values["limit_pct"].Time.Equal(now.Add(-time.Hour)) || !pv.Values["limit_pct"].Stale || pv.Values["state"].V != "throttled" || pv.Values["dc_power_w"].V != nil {
		t.Fatalf("pv row: %+v", pv)
	}
	if g := find(live, "grid", "m1", ""); g == nil || g.Values["export_power_w"].V != 1500.0 || !g.Values["export_power_w"].Stale {
		t.Fatalf("grid row (3 h old: stale): %+v", g)
	}
	if g := find(live, "grid", "m2", ""); g == nil || g.Values["power_w"].V != 800.0 || g.Values["power_w"].Stale {
		t.Fatalf("grid row stamped ahead of the fleet's clock: %+v", g)
	}
	c1 := find(live, "evse", "CP01", "1")
	if c1 == nil || c1.Values["status"].V != "Charging" || c1.Values["status"].Stale || c1.Values["power_w"].V != 7100.0 || c1.Values["offered_a"].V != 16.0 {
		t.Fatalf("CP01/1: %+v", c1)
	}
	if s := c1.Session; s == nil || s.TransactionID != "tx9" || s.Group != "fleet" || s.IDTag != "VAN7" || s.EnergyWh == nil || *s.EnergyWh != 5200 {
		t.Fatalf("CP01/1 session: %+v", c1.Session)
	}
	if a := c1.Allocation; a["limit_a"].V != 16.0 || a["reason"].V != "headroom" || a["actuation"].V != "confirmed" {
		t.Fatalf("CP01/1 allocation: %+v", a)
	}
	if c2 := find(live, "evse", "CP01", "2"); c2 == nil || c2.Values["status"].V != "Available" || c2.Values["status"].Stale || c2.Session != nil {
		t.Fatalf("CP01/2 (available for two days, session stopped): %+v", c2)
	}
	if live.Rules == nil || live.Rules.Values["budget_w"].V != 11000.0 || live.Rules.Values["band"].V != "F1" {
		t.Fatalf("office rules: %+v", live.Rules)
	}
	if e := find(live, "env", "th-hall", ""); e == nil || e.Values["temperature_c"].V != 22.5 || e.Values["co2_ppm"].V != 880.0 {
		t.Fatalf("env: %+v", e)
	}
	if e := find(live, "env", "noise", ""); e == nil || e.Values["noise_db"].V != 41.0 {
		t.Fatalf("a custom-mapped sensor field: %+v", e)
	}
	if l := find(live, "locker", "locker1", ""); l == nil || l.Values["occupied"].V != 12.0 || l.Values["power"].V != "mains" {
		t.Fatalf("locker: %+v", l)
	}
	var comp *LiveRow
	for i, r := range live.Rows {
		if r.Measurement == "locker_compartment" && r.Compartment == "7" {
			comp = &live.Rows[i]
		}
	}
	// A bank reports at least every 5 min: 30 min without a status is stale.
	if comp == nil || comp.Values["door_open"].V != true || !comp.Values["door_open"].Stale {
		t.Fatalf("compartment 7: %+v", comp)
	}
	if find(live, "evse", "CP99", "1") != nil {
		t.Fatal("another office's charger on the page")
	}
	// The office silent for an hour: on-change values are stale too.
	live, err = c.OfficeLive(context.Background(), "30001", now, now.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if c1 := find(live, "evse", "CP01", "1"); !c1.Values["status"].Stale {
		t.Fatalf("status of a silent office not stale: %+v", c1.Values["status"])
	}
}

// TestLockerEvents: an office's locker events in a range, newest first,
// with their extra fields; other kinds, offices and times left out.
func TestLockerEvents(t *testing.T) {
	in := testserver.Influx(t)
	now := time.Now().Truncate(time.Millisecond)
	ms := func(d time.Duration) int64 { return now.Add(-d).UnixMilli() }
	tags := ",office=30001,region=Basilicata,province=PZ"
	write(t, in, []string{
		fmt.Sprintf(`events,device=locker1,kind=locker_deposit%s message="parcel in",severity="info",compartment="7",event_id="e1" %d`, tags, ms(2*time.Hour)),
		fmt.Sprintf(`events,device=locker1,kind=locker_tamper%s message="door forced",severity="critical",compartment="3" %d`, tags, ms(time.Hour)),
		fmt.Sprintf(`events,device=CP01,kind=session_started%s message="start",severity="info" %d`, tags, ms(time.Hour)),
		fmt.Sprintf(`events,device=locker1,kind=locker_pickup%s message="old",severity="info" %d`, tags, ms(10*24*time.Hour)),
		fmt.Sprintf(`events,device=locker9,kind=locker_tamper,office=10001,region=Lazio,province=RM message="elsewhere",severity="critical" %d`, ms(time.Hour)),
	})
	c := New(config.Influx{URL: in.URL, Token: in.Token, Bucket: in.Bucket, Timeout: 10 * time.Second})
	evs, err := c.Events(context.Background(), EventQuery{Office: "30001", KindPrefix: "locker_", From: now.Add(-7 * 24 * time.Hour), To: now})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 || evs[0].Kind != "locker_tamper" || evs[0].Severity != "critical" || evs[0].Fields["compartment"] != "3" ||
		evs[1].Kind != "locker_deposit" || evs[1].Fields["event_id"] != "e1" || evs[1].Device != "locker1" || evs[0].Fields["region"] != nil {
		t.Fatalf("locker events: %+v", evs)
	}
}

package ocpp

import "strings"

// ConcurrentTx (1.6 idTagInfo, 2.0.1 idTokenInfo): an idTag that is already
// in a running transaction at this office, on another connector/EVSE of the
// same charger or on another charger, is answered ConcurrentTx instead of
// Accepted, and a charger ends a transaction it started with it. Only the
// exact idTag counts: other cards of the same group (parentIdTag /
// groupIdToken, the Master Pass) are not blocked by it, and the group token
// itself is never "in" a transaction. Blocked/Expired/Invalid answers stay
// as they are (they say more). A transaction whose connector reports
// Available (the charger lost it) does not count; one on a charger that is
// offline does (it may well be charging).

// authorizeTag is tags.authorize plus the concurrency check; the
// transaction (charger, txID) the tag is presented for, and an older session
// on the same connector (which a new start replaces), do not count.
func (s *Service) authorizeTag(idTag, chargerID, txID string, connector int) (bool, TagConfig) {
	ok, tag := s.tags.authorize(idTag)
	return s.concurrency(ok, tag, chargerID, txID, connector)
}

// concurrency turns an Accepted tag into ConcurrentTx when it is in another
// running transaction.
func (s *Service) concurrency(ok bool, tag TagConfig, chargerID, txID string, connector int) (bool, TagConfig) {
	if ok && tag.Status == TagAccepted && s.inOtherTx(tag.ID, chargerID, txID, connector) {
		tag.Status = TagConcurrentTx
		s.stats.inc(chargerID, "concurrent_tx")
		return false, tag
	}
	return ok, tag
}

// inOtherTx says whether idTag is in a running transaction other than
// (chargerID, txID) and not on connector of chargerID. It reads the views the chargers' owners publish, so it
// never waits on an owner and may run on one.
func (s *Service) inOtherTx(idTag, chargerID, txID string, connector int) bool {
	s.mu.Lock()
	chargers := make([]*charger, 0, len(s.chargers))
	for _, c := range s.chargers {
		chargers = append(chargers, c)
	}
	s.mu.Unlock()
	for _, c := range chargers {
		v := c.view.Load()
		if v == nil {
			continue
		}
		for _, cs := range v.connectors {
			ss := cs.Session
			if ss == nil || !ss.Open || !strings.EqualFold(ss.IdTag, idTag) {
				continue
			}
			// A connector that says Available has no car: its session is
			// one the charger lost (no stop will come) and must not lock
			// the card out of every other charger.
			if cs.Status == "Available" {
				continue
			}
			if v.id == chargerID && ((txID != "" && ss.TransactionID == txID) || cs.Connector == connector) {
				continue
			}
			return true
		}
	}
	return false
}

package ocpp

import (
	"context"
	"fmt"

	"github.com/lorenzodonini/ocpp-go/ocpp"
	la16 "github.com/lorenzodonini/ocpp-go/ocpp1.6/localauth"
	types16 "github.com/lorenzodonini/ocpp-go/ocpp1.6/types"
	la201 "github.com/lorenzodonini/ocpp-go/ocpp2.0.1/localauth"
	types201 "github.com/lorenzodonini/ocpp-go/ocpp2.0.1/types"
)

// Local authorisation lists (1.6 LocalAuthListManagement, 2.0.1 D01-D02):
// a charger keeps the office's tags so it authorises the vans while the
// edge is down. The list is versioned (tagList.version); after every boot
// the charger's version is read and, if it differs, the full list is sent.

// Tags lists the authorisation list and its version.
func (s *Service) Tags() ([]TagConfig, int) { return s.tags.list() }

// PutTag creates or changes a tag (block: Status Blocked; expire: Expiry)
// and returns the list's new version. Chargers get it at their next sync.
func (s *Service) PutTag(tag TagConfig) (int, error) { return s.tags.put(tag, false) }

// DeleteTag removes a tag from the list.
func (s *Service) DeleteTag(id string) (int, error) { return s.tags.put(TagConfig{ID: id}, true) }

// SyncLocalList sends the whole list (SendLocalList Full) with its version
// and returns the charger's status word.
func (s *Service) SyncLocalList(ctx context.Context, chargerID string) (string, error) {
	tags, version := s.tags.list()
	r16 := la16.NewSendLocalListRequest(version, la16.UpdateTypeFull)
	r201 := la201.NewSendLocalListRequest(version, la201.UpdateTypeFull)
	for _, t := range tags {
		r16.LocalAuthorizationList = append(r16.LocalAuthorizationList, la16.AuthorizationData{IdTag: t.ID, IdTagInfo: tagInfo(t)})
		r201.LocalAuthorizationList = append(r201.LocalAuthorizationList, la201.AuthorizationData{
			IdToken: types201.IdToken{IdToken: t.ID, Type: types201.IdTokenTypeISO14443}, IdTokenInfo: tokenInfo(t)})
	}
	resp, err := s.call(ctx, chargerID, r16, r201)
	if err != nil {
		return "", err
	}
	switch r := resp.(type) {
	case *la16.SendLocalListConfirmation:
		return string(r.Status), nil
	case *la201.SendLocalListResponse:
		return string(r.Status), nil
	}
	return "", fmt.Errorf("SendLocalList %s: unexpected answer %T", chargerID, resp)
}

// LocalListVersion reads the charger's list version (-1 or 0: none).
func (s *Service) LocalListVersion(ctx context.Context, chargerID string) (int, error) {
	resp, err := s.call(ctx, chargerID, la16.NewGetLocalListVersionRequest(), la201.NewGetLocalListVersionRequest())
	if err != nil {
		return 0, err
	}
	switch r := resp.(type) {
	case *la16.GetLocalListVersionConfirmation:
		return r.ListVersion, nil
	case *la201.GetLocalListVersionResponse:
		return r.VersionNumber, nil
	}
	return 0, fmt.Errorf("GetLocalListVersion %s: unexpected answer %T", chargerID, resp)
}

// syncLocalListIfStale runs after boot: a charger without local list
// support answers with a CALLERROR, which is only counted.
func (s *Service) syncLocalListIfStale(chargerID string) {
	ctx := context.Background()
	have, err := s.LocalListVersion(ctx, chargerID)
	if err != nil {
		s.stats.inc(chargerID, "local_list_unsupported")
		return
	}
	if _, want := s.tags.list(); have == want {
		return
	}
	if st, err := s.SyncLocalList(ctx, chargerID); err != nil || st != "Accepted" {
		s.stats.inc(chargerID, "local_list_refused")
		s.log.Warn("ocpp: local list not taken", "charger", chargerID, "status", st, "err", err)
	}
}

var (
	_ ocpp.Request = (*la16.SendLocalListRequest)(nil)
	_              = types16.AuthorizationStatusAccepted
)

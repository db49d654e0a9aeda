package ocpp

import "strings"

// tagList is the local authorisation list. idTags compare case-insensitively
// because readers disagree on hex case for the same card.
type tagList struct {
	policy string
	tags   map[string]TagConfig
}

func newTagList(cfg AuthConfig) *tagList {
	t := &tagList{policy: cfg.UnknownTags, tags: map[string]TagConfig{}}
	for _, tag := range cfg.Tags {
		t.tags[strings.ToUpper(tag.ID)] = tag
	}
	return t
}

// authorize returns whether the tag may charge and the tag's entry (group
// "unknown" or "public" for tags outside the list, per policy).
func (t *tagList) authorize(idTag string) (bool, TagConfig) {
	if tag, ok := t.tags[strings.ToUpper(idTag)]; ok {
		return true, tag
	}
	switch t.policy {
	case UnknownAccept:
		return true, TagConfig{ID: idTag, Group: "unknown"}
	case UnknownAcceptPublic:
		return true, TagConfig{ID: idTag, Group: GroupPublic}
	}
	return false, TagConfig{ID: idTag, Group: "unknown"}
}

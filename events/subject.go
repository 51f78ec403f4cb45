package events

import (
	"errors"
	"fmt"
	"strings"
)

// DefaultPrefix is the subject prefix of the event stream.
const DefaultPrefix = "blnode.ev"

// DefaultRegion is the region token used when none is configured.
const DefaultRegion = "default"

// Subject returns the subject an event of kind k from region is published
// on: "<prefix>.<region>.<kind>". An empty prefix means DefaultPrefix and an
// empty region DefaultRegion. Subject does not validate; callers check the
// region once with ValidateRegion (NewPublisher and Event.Validate do).
func Subject(prefix, region string, k Kind) string {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	if region == "" {
		region = DefaultRegion
	}
	return prefix + "." + region + "." + string(k)
}

// ValidateRegion reports whether region can be one token of a NATS subject:
// 1 to 64 bytes of visible ASCII without '.', '*' or '>'.
func ValidateRegion(region string) error {
	if region == "" {
		return errors.New("events: region is empty")
	}
	if len(region) > maxRegionLen {
		return fmt.Errorf("events: region longer than %d bytes", maxRegionLen)
	}
	if err := checkToken(region); err != nil {
		return fmt.Errorf("events: region %.64q: %w", region, err)
	}
	return nil
}

// checkToken reports why s cannot be a literal subject token.
func checkToken(s string) error {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c <= ' ' || c >= 0x7f:
			return fmt.Errorf("byte 0x%02x not allowed", c)
		case c == '.' || c == '*' || c == '>':
			return fmt.Errorf("%q not allowed", c)
		}
	}
	return nil
}

// checkPrefix reports why p cannot be a literal subject prefix (dot-separated
// tokens, no wildcards).
func checkPrefix(p string) error {
	if p == "" {
		return errors.New("empty")
	}
	for tok := range strings.SplitSeq(p, ".") {
		if tok == "" {
			return errors.New("empty token")
		}
		if err := checkToken(tok); err != nil {
			return err
		}
	}
	return nil
}

package domain

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"net/url"
	"strings"

	"github.com/google/uuid"
)

// legacySecretNamespace names the secrets of schema-version-1 webhook events.
var legacySecretNamespace = uuid.MustParse("6f1d3c0e-8a52-4d8e-9b0b-2f6a7c1e5d41")

// LegacyWebhookSecretID is the secret id that UpcastWebhookV1 gives a webhook
// whose secret was written in clear by a version-1 event: the secret of its
// latest version-1 event. It is derived from the webhook id alone (never from
// the secret), so that the upcaster and the encrypted table agree on it
// without either reading the other.
func LegacyWebhookSecretID(webhookID uuid.UUID) uuid.UUID {
	return uuid.NewSHA1(legacySecretNamespace, []byte("webhook-secret-v1:"+webhookID.String()))
}

// UpcastWebhookV1 converts a version-1 webhook.registered or webhook.updated
// payload to version 2: the secret in clear is dropped and replaced by
// LegacyWebhookSecretID. The stored row keeps the secret (events are never
// rewritten); the delivery path copies it, encrypted, into the secret table
// the first time it needs it.
func UpcastWebhookV1(data json.RawMessage) (json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, err
	}
	var id uuid.UUID
	if err := json.Unmarshal(m["webhook_id"], &id); err != nil {
		return nil, fmt.Errorf("webhook_id: %w", err)
	}
	delete(m, "secret")
	sid, _ := json.Marshal(LegacyWebhookSecretID(id))
	m["secret_id"] = sid
	return json.Marshal(m)
}

// WebhookUpcasts lists the upcasters of webhook events by event type; each
// converts from schema version 1.
func WebhookUpcasts() map[string]func(json.RawMessage) (json.RawMessage, error) {
	return map[string]func(json.RawMessage) (json.RawMessage, error){
		EventWebhookRegistered: UpcastWebhookV1,
		EventWebhookUpdated:    UpcastWebhookV1,
	}
}

// RedactStored returns an event payload, stored or upcast, as it may be shown
// outside the write path (history, exports): webhook configuration loses any
// secret and its URL is reduced by RedactWebhookURL. Other payloads come back
// unchanged (changed false).
func RedactStored(eventType string, data []byte) (out []byte, changed bool, err error) {
	if eventType != EventWebhookRegistered && eventType != EventWebhookUpdated {
		return data, false, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, false, fmt.Errorf("redact %s: %w", eventType, err)
	}
	delete(m, "secret")
	var raw string
	if err := json.Unmarshal(m["url"], &raw); err == nil {
		m["url"], _ = json.Marshal(RedactWebhookURL(raw))
	} else {
		delete(m, "url")
	}
	out, err = json.Marshal(m)
	if err != nil {
		return nil, false, fmt.Errorf("redact %s: %w", eventType, err)
	}
	return out, true, nil
}

// RedactWebhookURL keeps only a webhook URL's scheme and host. Receivers
// often authenticate the sender by a token in the URL (Slack and Discord put
// it in the path, others in the query string), so outside the admins'
// webhooks list the rest is replaced by "/[redacted]".
func RedactWebhookURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "[redacted]"
	}
	out := u.Scheme + "://" + u.Host
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		out += "/[redacted]"
	}
	return out
}

// CheckWebhookDestination refuses webhook URLs that point, literally, away
// from the public internet: an IP address outside it (in any of the forms
// PublicAddr knows), a numeric host that resolvers read as an IPv4 address
// ("2130706433", "0x7f.1"), and names that only mean something locally
// (localhost, *.localhost, single labels, .local, .internal, .home.arpa).
// It never resolves names: the delivery path checks every address it
// actually connects to.
func CheckWebhookDestination(endpoint string) error {
	u, err := url.Parse(strings.TrimSpace(endpoint))
	if err != nil || u.Host == "" {
		return InvalidInput("url", "must be an absolute http or https URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return InvalidInput("url", "must be an absolute http or https URL")
	}
	if u.User != nil {
		return InvalidInput("url", "must not contain credentials")
	}
	return checkWebhookHost(u.Hostname())
}

// checkWebhookHost is CheckWebhookDestination's judgement of the URL's host (as url.Hostname
// gives it: an IPv6 literal without its brackets).
func checkWebhookHost(host string) error {
	host = strings.ToLower(host)
	if a, err := netip.ParseAddr(host); err == nil {
		if !PublicAddr(a) {
			return InvalidInput("url", "must not point to a private, loopback or reserved address")
		}
		return nil
	}
	host = strings.TrimSuffix(host, ".")
	labels := strings.Split(host, ".")
	last := labels[len(labels)-1]
	switch {
	case host == "" || strings.ContainsAny(host, "%[]:"):
		return InvalidInput("url", "must have a valid host")
	case numericLabel(last):
		// No top-level domain is numeric: resolvers read such names as IPv4 addresses.
		return InvalidInput("url", "must not point to a private, loopback or reserved address")
	case len(labels) < 2:
		return InvalidInput("url", "must name a public host (a fully qualified domain name)")
	}
	for _, suffix := range localSuffixes {
		if host == suffix || strings.HasSuffix(host, "."+suffix) {
			return InvalidInput("url", "must name a public host, not a local one")
		}
	}
	return nil
}

// localSuffixes are names reserved for local use (RFC 6761, 6762, 8375) or
// commonly resolved only inside a network.
var localSuffixes = []string{"localhost", "local", "localdomain", "internal", "intranet", "lan", "home.arpa", "arpa", "test", "invalid"}

// numericLabel reports whether a label is a number in any base an IPv4
// parser accepts (decimal, octal, 0x hex).
func numericLabel(l string) bool {
	if l == "" {
		return false
	}
	if strings.HasPrefix(l, "0x") {
		l = l[2:]
		return strings.Trim(l, "0123456789abcdef") == ""
	}
	return strings.Trim(l, "0123456789") == ""
}

// PublicAddr reports whether a is an address on the public internet that a
// webhook may reach. IPv6 must be global unicast (2000::/3); addresses that
// embed an IPv4 address (mapped, ISATAP) are judged by it; tunnelling and
// translation prefixes (6to4, Teredo, NAT64, IPv4-compatible) are refused
// whole, since they can carry any IPv4 address, private ones included.
func PublicAddr(a netip.Addr) bool {
	if !a.IsValid() || a.Zone() != "" {
		return false
	}
	if a.Is4In6() {
		a = a.Unmap()
	}
	if a.Is4() {
		for _, p := range nonPublic4 {
			if p.Contains(a) {
				return false
			}
		}
		return true
	}
	if !global6.Contains(a) {
		return false // loopback, ::/96, fc00::/7, fe80::/10, fec0::/10, ff00::/8, 64:ff9b::/96, 100::/64...
	}
	for _, p := range nonPublic6 {
		if p.Contains(a) {
			return false
		}
	}
	// ISATAP interface identifiers (::0:5efe:a.b.c.d, ::200:5efe:a.b.c.d) embed an IPv4 address.
	b := a.As16()
	if (b[8]|0x02) == 0x02 && b[9] == 0 && b[10] == 0x5e && b[11] == 0xfe {
		return PublicAddr(netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}))
	}
	return true
}

var global6 = netip.MustParsePrefix("2000::/3")

// nonPublic4 is every IPv4 range that is not the public internet (IANA special-purpose registry).
var nonPublic4 = prefixes(
	"0.0.0.0/8",          // "this network"
	"10.0.0.0/8",         // private
	"100.64.0.0/10",      // carrier-grade NAT
	"127.0.0.0/8",        // loopback
	"169.254.0.0/16",     // link-local, cloud metadata
	"172.16.0.0/12",      // private
	"192.0.0.0/24",       // IETF protocol assignments
	"192.0.2.0/24",       // documentation
	"192.88.99.0/24",     // 6to4 relay anycast
	"192.168.0.0/16",     // private
	"198.18.0.0/15",      // benchmarking
	"198.51.100.0/24",    // documentation
	"203.0.113.0/24",     // documentation
	"224.0.0.0/4",        // multicast
	"240.0.0.0/4",        // reserved
	"255.255.255.255/32", // broadcast (inside 240/4; listed for the reader)
)

// nonPublic6 is what 2000::/3 holds besides the public internet.
var nonPublic6 = prefixes(
	"2001::/23",     // IETF protocol assignments: Teredo 2001::/32, benchmarking, ORCHID
	"2001:db8::/32", // documentation
	"2002::/16",     // 6to4: embeds any IPv4 address
	"3fff::/20",     // documentation
)

func prefixes(s ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(s))
	for i, p := range s {
		out[i] = netip.MustParsePrefix(p)
	}
	return out
}

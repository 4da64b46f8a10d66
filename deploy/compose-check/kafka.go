package main

// Hotline's Kafka keeps the log: the checks below fail a Compose file whose
// cluster could lose an acknowledged record or delete history the projections
// are rebuilt from (docs/production.md "Kafka"):
//
//   - at least three brokers and a KRaft controller quorum of at least three
//     voters, every node listing the same voters, each voter a node of the file;
//   - node ids unique, each broker's data on a volume of its own;
//   - replication factor 3 (default, offsets, transaction state, share
//     coordinator) and min.insync.replicas 2, below the factor so that one
//     broker may be lost; unclean leader election off;
//   - the brokers delete nothing by age or size (log.retention.ms and
//     log.retention.bytes -1): a topic keeps less only by its own setting,
//     which `hotline topics ensure` gives the unit queues alone;
//   - every client lists every broker in its bootstrap servers, every Hotline
//     process has KAFKA_ACKS=all, and the `topics ensure` job creates topics
//     with KAFKA_REPLICATION_FACTOR 3 and KAFKA_MIN_INSYNC_REPLICAS 2.

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
)

const (
	minBrokers     = 3
	minVoters      = 3
	minReplication = 3
	minInsync      = 2
)

type kafkaNode struct {
	service string
	env     map[string]string
	roles   []string
}

func envOf(svc types.ServiceConfig) map[string]string {
	env := map[string]string{}
	for k, v := range svc.Environment {
		if v != nil {
			env[k] = *v
		}
	}
	return env
}

func checkKafka(project *types.Project) []error {
	all := project.AllServices()
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	var nodes []kafkaNode
	for _, name := range sortedKeys(all) {
		env := envOf(all[name])
		if roles, ok := env["KAFKA_PROCESS_ROLES"]; ok {
			nodes = append(nodes, kafkaNode{service: name, env: env, roles: splitList(roles)})
		}
	}
	var brokers, controllers []kafkaNode
	for _, n := range nodes {
		if slices.Contains(n.roles, "broker") {
			brokers = append(brokers, n)
		}
		if slices.Contains(n.roles, "controller") {
			controllers = append(controllers, n)
		}
	}
	if len(brokers) < minBrokers {
		fail("kafka: %d broker(s) (services with KAFKA_PROCESS_ROLES containing broker); at least %d are needed so that every topic has %d replicas and survives a broker's loss", len(brokers), minBrokers, minReplication)
	}
	if len(controllers) < minVoters {
		fail("kafka: %d KRaft controller(s); a quorum of at least %d is needed so that one node's loss leaves a majority", len(controllers), minVoters)
	}

	// Node ids, and the quorum every node must agree on.
	ids := map[string]string{}
	for _, n := range nodes {
		id := n.env["KAFKA_NODE_ID"]
		if id == "" {
			fail("service %q: KAFKA_NODE_ID is not set", n.service)
		} else if other, dup := ids[id]; dup {
			fail("service %q: KAFKA_NODE_ID %s is also the id of %q", n.service, id, other)
		} else {
			ids[id] = n.service
		}
	}
	var voters string
	for _, n := range nodes {
		v := n.env["KAFKA_CONTROLLER_QUORUM_VOTERS"]
		if voters == "" {
			voters = v
		} else if v != voters {
			fail("service %q: KAFKA_CONTROLLER_QUORUM_VOTERS %q differs from %q's %q", n.service, v, nodes[0].service, voters)
		}
	}
	errs = append(errs, checkVoters(voters, controllers, all)...)

	// Replication, durability and retention of every broker.
	for _, b := range brokers {
		atLeast := func(key string, min int) int {
			n, err := strconv.Atoi(b.env[key])
			if err != nil {
				fail("service %q: %s must be set to at least %d (it is %q)", b.service, key, min, b.env[key])
				return 0
			}
			if n < min {
				fail("service %q: %s is %d; at least %d is needed", b.service, key, n, min)
			}
			return n
		}
		rf := atLeast("KAFKA_DEFAULT_REPLICATION_FACTOR", minReplication)
		isr := atLeast("KAFKA_MIN_INSYNC_REPLICAS", minInsync)
		atLeast("KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR", minReplication)
		atLeast("KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR", minReplication)
		atLeast("KAFKA_TRANSACTION_STATE_LOG_MIN_ISR", minInsync)
		atLeast("KAFKA_SHARE_COORDINATOR_STATE_TOPIC_REPLICATION_FACTOR", minReplication)
		atLeast("KAFKA_SHARE_COORDINATOR_STATE_TOPIC_MIN_ISR", minInsync)
		if rf > 0 && isr >= rf {
			fail("service %q: KAFKA_MIN_INSYNC_REPLICAS %d must be below KAFKA_DEFAULT_REPLICATION_FACTOR %d, or a broker's loss stops every write", b.service, isr, rf)
		}
		if rf > len(brokers) {
			fail("service %q: KAFKA_DEFAULT_REPLICATION_FACTOR %d exceeds the %d broker(s)", b.service, rf, len(brokers))
		}
		if v := b.env["KAFKA_UNCLEAN_LEADER_ELECTION_ENABLE"]; v != "false" {
			fail("service %q: KAFKA_UNCLEAN_LEADER_ELECTION_ENABLE must be \"false\" (it is %q): an unclean leader drops acknowledged records", b.service, v)
		}
		for _, key := range []string{"KAFKA_LOG_RETENTION_MS", "KAFKA_LOG_RETENTION_BYTES"} {
			if v := b.env[key]; v != "-1" {
				fail("service %q: %s must be \"-1\" (it is %q): the brokers must delete nothing by age or size, the log is the source of truth", b.service, key, v)
			}
		}
		for _, key := range []string{"KAFKA_LOG_RETENTION_HOURS", "KAFKA_LOG_RETENTION_MINUTES"} {
			if v, ok := b.env[key]; ok && v != "-1" {
				fail("service %q: %s is %q: the brokers must delete nothing by age", b.service, key, v)
			}
		}
	}
	errs = append(errs, checkBrokerVolumes(brokers, all)...)

	// Clients.
	addresses := brokerAddresses(brokers)
	if len(addresses) != len(brokers) {
		fail("kafka: %d broker(s) but %d advertise an address on their inter-broker listener (KAFKA_ADVERTISED_LISTENERS)", len(brokers), len(addresses))
	}
	ensureJobs := 0
	for _, name := range sortedKeys(all) {
		svc := all[name]
		env := envOf(svc)
		for _, key := range []string{"KAFKA_BOOTSTRAP_SERVERS", "KAFKA_BOOTSTRAP"} {
			list, ok := env[key]
			if !ok {
				continue
			}
			listed := splitList(list)
			for _, addr := range addresses {
				if !slices.Contains(listed, addr) {
					fail("service %q: %s %q does not list broker %s", name, key, list, addr)
				}
			}
		}
		if _, ok := env["KAFKA_BOOTSTRAP_SERVERS"]; ok && env["KAFKA_ACKS"] != "all" {
			fail("service %q: KAFKA_ACKS must be \"all\" (it is %q): a record is stored once the in-sync replicas have it", name, env["KAFKA_ACKS"])
		}
		if slices.Equal([]string(svc.Command), []string{"topics", "ensure"}) {
			ensureJobs++
			rf, err := strconv.Atoi(env["KAFKA_REPLICATION_FACTOR"])
			if err != nil || rf < minReplication {
				fail("service %q: KAFKA_REPLICATION_FACTOR must be at least %d (it is %q): the topics it creates", name, minReplication, env["KAFKA_REPLICATION_FACTOR"])
			} else if rf > len(brokers) {
				fail("service %q: KAFKA_REPLICATION_FACTOR %d exceeds the %d broker(s)", name, rf, len(brokers))
			}
			isr, err := strconv.Atoi(env["KAFKA_MIN_INSYNC_REPLICAS"])
			if err != nil || isr < minInsync {
				fail("service %q: KAFKA_MIN_INSYNC_REPLICAS must be at least %d (it is %q)", name, minInsync, env["KAFKA_MIN_INSYNC_REPLICAS"])
			} else if rf > 0 && isr >= rf {
				fail("service %q: KAFKA_MIN_INSYNC_REPLICAS %d must be below KAFKA_REPLICATION_FACTOR %d", name, isr, rf)
			}
		}
	}
	if ensureJobs == 0 {
		fail("no service runs `topics ensure`: nothing would create the topics with their replication and retention")
	}
	return errs
}

// checkVoters: "id@host:port,..." with at least three voters, each a controller
// node of the file (its KAFKA_NODE_ID, and its hostname or service name), and
// every controller a voter.
func checkVoters(voters string, controllers []kafkaNode, all types.Services) []error {
	var errs []error
	entries := splitList(voters)
	if len(entries) < minVoters {
		errs = append(errs, fmt.Errorf("kafka: KAFKA_CONTROLLER_QUORUM_VOTERS %q names %d voter(s); at least %d are needed", voters, len(entries), minVoters))
	}
	byID := map[string]kafkaNode{}
	for _, c := range controllers {
		byID[c.env["KAFKA_NODE_ID"]] = c
	}
	seen := map[string]bool{}
	for _, entry := range entries {
		id, hostPort, ok := strings.Cut(entry, "@")
		host, _, _ := strings.Cut(hostPort, ":")
		c, known := byID[id]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("kafka: voter %q is not id@host:port", entry))
		case !known:
			errs = append(errs, fmt.Errorf("kafka: voter %q: no controller service has KAFKA_NODE_ID %s", entry, id))
		case host != c.service && host != all[c.service].Hostname:
			errs = append(errs, fmt.Errorf("kafka: voter %q: node %s is service %q, not host %q", entry, id, c.service, host))
		default:
			seen[id] = true
		}
	}
	for _, c := range controllers {
		if !seen[c.env["KAFKA_NODE_ID"]] {
			errs = append(errs, fmt.Errorf("service %q: a controller that is not in KAFKA_CONTROLLER_QUORUM_VOTERS", c.service))
		}
	}
	return errs
}

// checkBrokerVolumes: each broker's KAFKA_LOG_DIRS is on a named volume that no
// other broker mounts (a broker's disk is its own).
func checkBrokerVolumes(brokers []kafkaNode, all types.Services) []error {
	var errs []error
	owner := map[string]string{}
	for _, b := range brokers {
		dir := b.env["KAFKA_LOG_DIRS"]
		found := false
		for _, v := range all[b.service].Volumes {
			if v.Type == types.VolumeTypeVolume && v.Source != "" && dir != "" &&
				(dir == v.Target || strings.HasPrefix(dir, strings.TrimSuffix(v.Target, "/")+"/")) {
				found = true
				if other, dup := owner[v.Source]; dup {
					errs = append(errs, fmt.Errorf("service %q: data volume %q is also %q's", b.service, v.Source, other))
				}
				owner[v.Source] = b.service
			}
		}
		if !found {
			errs = append(errs, fmt.Errorf("service %q: KAFKA_LOG_DIRS %q is not on a named volume of its own", b.service, dir))
		}
	}
	return errs
}

// brokerAddresses: each broker's advertised address on its inter-broker listener.
func brokerAddresses(brokers []kafkaNode) []string {
	var out []string
	for _, b := range brokers {
		listener := b.env["KAFKA_INTER_BROKER_LISTENER_NAME"]
		for _, l := range splitList(b.env["KAFKA_ADVERTISED_LISTENERS"]) {
			name, addr, ok := strings.Cut(l, "://")
			if ok && (listener == "" || name == listener) {
				out = append(out, addr)
				break
			}
		}
	}
	sort.Strings(out)
	return out
}

func splitList(s string) []string {
	var out []string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

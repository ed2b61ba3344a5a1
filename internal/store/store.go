// Package store persists standalone mode's allocations in an embedded bbolt database, so that
// a restart (even after SIGKILL) gives every Service the address it had. bbolt's file lock
// also keeps two herald processes from sharing one state directory.
package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/heraldlb/herald/internal/model"
)

// FileName is the database's file name inside the state directory.
const FileName = "herald.db"

var (
	bucketAllocations = []byte("allocations/v1")
	bucketBlobs       = []byte("blobs/v1")
)

// Store is the allocation database.
type Store struct {
	db *bolt.DB
}

// ErrLocked means another process holds the database.
var ErrLocked = errors.New("state is in use by another herald process")

// Open opens (or creates) the database at path.
func Open(path string) (*Store, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return nil, fmt.Errorf("opening %s: %w", path, ErrLocked)
		}
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		if _, err := tx.CreateBucketIfNotExists(bucketAllocations); err != nil {
			return err
		}
		_, err := tx.CreateBucketIfNotExists(bucketBlobs)
		return err
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("initialising %s: %w", path, err)
	}
	return &Store{db: db}, nil
}

// Close releases the database and its lock.
func (s *Store) Close() error { return s.db.Close() }

// Allocations are the addresses each Service holds.
type Allocations map[model.ServiceKey][]netip.Addr

type record struct {
	IPs []string `json:"ips"`
}

func keyOf(k model.ServiceKey) []byte { return []byte(k.Namespace + "/" + k.Name) }

// Load returns every stored allocation.
func (s *Store) Load() (Allocations, error) {
	out := Allocations{}
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketAllocations).ForEach(func(k, v []byte) error {
			ns, name, ok := strings.Cut(string(k), "/")
			if !ok {
				return fmt.Errorf("malformed key %q", k)
			}
			var r record
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("record %q: %w", k, err)
			}
			var addrs []netip.Addr
			for _, ip := range r.IPs {
				a, err := netip.ParseAddr(ip)
				if err != nil {
					return fmt.Errorf("record %q: %w", k, err)
				}
				addrs = append(addrs, a)
			}
			out[model.ServiceKey{Namespace: ns, Name: name}] = addrs
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("reading allocations: %w", err)
	}
	return out, nil
}

// Put writes the records of want that are new or changed, in one transaction (bbolt fsyncs
// it before returning), and returns how many it wrote. Records not in want stay: Prune
// removes them, once nothing announces their addresses any more.
func (s *Store) Put(want Allocations) (int, error) {
	n := 0
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketAllocations)
		// Sorted keys: bbolt inserts in key order fill pages sequentially; random order (map
		// iteration) split pages all over the tree and took 13 s for 100k records.
		keys := make([]model.ServiceKey, 0, len(want))
		for k := range want {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, model.ServiceKey.Compare)
		b.FillPercent = 0.9
		for _, k := range keys {
			r := record{}
			for _, a := range want[k] {
				r.IPs = append(r.IPs, a.String())
			}
			v, err := json.Marshal(r)
			if err != nil {
				return err
			}
			if old := b.Get(keyOf(k)); old != nil && string(old) == string(v) {
				continue
			}
			if err := b.Put(keyOf(k), v); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("writing allocations: %w", err)
	}
	return n, nil
}

// Prune deletes every record whose Service is not in want, and returns how many it deleted.
// It looks first in a read transaction: most reconciles release nothing, and a write
// transaction costs an fsync even when it changes nothing.
func (s *Store) Prune(want Allocations) (int, error) {
	var stale [][]byte
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketAllocations).ForEach(func(k, _ []byte) error {
			ns, name, _ := strings.Cut(string(k), "/")
			if _, ok := want[model.ServiceKey{Namespace: ns, Name: name}]; !ok {
				stale = append(stale, slices.Clone(k))
			}
			return nil
		})
	})
	if err == nil && len(stale) > 0 {
		err = s.db.Update(func(tx *bolt.Tx) error {
			b := tx.Bucket(bucketAllocations)
			for _, k := range stale {
				if err := b.Delete(k); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err != nil {
		return 0, fmt.Errorf("deleting released allocations: %w", err)
	}
	return len(stale), nil
}

// Blob returns a named opaque value (nil when unset).
func (s *Store) Blob(name string) ([]byte, error) {
	var out []byte
	err := s.db.View(func(tx *bolt.Tx) error {
		out = slices.Clone(tx.Bucket(bucketBlobs).Get([]byte(name)))
		return nil
	})
	return out, err
}

// SetBlob stores a named opaque value; unchanged values are not rewritten.
func (s *Store) SetBlob(name string, v []byte) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketBlobs)
		if old := b.Get([]byte(name)); old != nil && string(old) == string(v) {
			return nil
		}
		return b.Put([]byte(name), v)
	})
}

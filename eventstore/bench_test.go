package eventstore_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"

	"github.com/taskforge/taskforge/eventstore"
)

// Go benchmarks of the append path, parallel over GOMAXPROCS goroutines (-cpu 1,8 to vary), each
// on its own stream. BenchmarkBaselineInsert is the plain single-row INSERT the appends are
// compared with; `taskforge bench append` reports the same comparison as ratios.
//
//	go test -run '^$' -bench . -cpu 1,8 ./eventstore

func BenchmarkBaselineInsert(b *testing.B) {
	es := newStore(b, eventstore.Options{})
	ctx := context.Background()
	if _, err := es.Pool().Exec(ctx, `CREATE TABLE baseline (LIKE events INCLUDING ALL)`); err != nil {
		b.Fatal(err)
	}
	var writer atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		stream := fmt.Sprintf("base-%d", writer.Add(1))
		for v := int64(1); pb.Next(); v++ {
			_, err := es.Pool().Exec(ctx, `INSERT INTO baseline (stream_id, stream_type, stream_version, event_id,
				event_type, schema_version, data, metadata, recorded_at, prev_hash, hash)
				VALUES ($1, 'test', $2, $3, 'test.happened', 1, $4::json, '{}', now(), '', '')`,
				stream, v, uuid.New(), `{"n":1,"text":"event"}`)
			if err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkAppendOne(b *testing.B) {
	benchAppend(b, 1)
}

func BenchmarkAppendBatch100(b *testing.B) {
	benchAppend(b, 100)
}

func benchAppend(b *testing.B, n int) {
	es := newStore(b, eventstore.Options{})
	ctx := context.Background()
	var writer atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		stream := fmt.Sprintf("bench-%d", writer.Add(1))
		for v := int64(0); pb.Next(); v += int64(n) {
			if _, err := es.Append(ctx, one(stream, eventstore.Exact(v), events(n)...)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "events/s")
}

// End-to-end latency through the gRPC door with a small-footprint load generator (issue 17): one Go
// process offers a fixed rate of ProduceBatch calls, open loop, and tails the same partition with
// Subscribe, so that the generator takes a fraction of a core instead of the TypeScript client's two
// processes competing with each other. It sends what the TypeScript client sends: one RecordBatch v2
// per call in `record_batch` (uncompressed, CRC32C), and reads what it reads: Subscribe with
// raw=true, stored batches as they are. Each record carries the wall-clock time its batch was due, in
// nanoseconds; latency counts from that due time, not from the send, so a stalled broker cannot hide
// its stall (coordinated omission). Records of the first `-warmup` are sent but not measured. The
// consumer's stream is open before the first send. With -rate 0 it runs closed loop instead, as fast
// as -inflight calls allow, latency counting from each send: that is how the maximum is measured.
// With -stream, the batches go as ProduceStream messages on one call instead of ProduceBatch calls
// (-inflight then bounds the requests without an answer). With -consume=false nothing tails the
// partition: a pure produce load, whose figures are the acknowledgements and the rate. Prints one
// JSON line.
//
// Built at bench time with Debian's Go toolchain and golang-google-grpc-dev, offline:
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o grpc-latency latency.go
//
// Protobuf messages are written and read by hand (google.golang.org/protobuf/encoding/protowire),
// so no generated code is needed; the field numbers are proto/tsbroker/v1/broker.proto's.
package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"hash/crc32"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	"google.golang.org/protobuf/encoding/protowire"
)

// rawCodec passes protobuf bytes through: requests are encoded and responses decoded here.
type rawCodec struct{}

func (rawCodec) Marshal(v interface{}) ([]byte, error) { return *(v.(*[]byte)), nil }
func (rawCodec) Unmarshal(data []byte, v interface{}) error {
	*(v.(*[]byte)) = append([]byte(nil), data...)
	return nil
}
func (rawCodec) Name() string { return "proto" }

var _ encoding.Codec = rawCodec{}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func appendVarint(b []byte, v int64) []byte { return binary.AppendVarint(b, v) }

// recordBatch encodes `count` records of `size` bytes, each starting with dueNs, as RecordBatch v2.
func recordBatch(count, size int, dueNs int64) []byte {
	value := make([]byte, size)
	for i := range value {
		value[i] = 'x'
	}
	binary.LittleEndian.PutUint64(value, uint64(dueNs))
	b := make([]byte, 61, 61+count*(size+12))
	for i := 0; i < count; i++ {
		var body []byte
		body = append(body, 0)              // attributes
		body = appendVarint(body, 0)        // timestamp delta
		body = appendVarint(body, int64(i)) // offset delta
		body = appendVarint(body, -1)       // no key
		body = appendVarint(body, int64(size))
		body = append(body, value...)
		body = appendVarint(body, 0) // no headers
		b = appendVarint(b, int64(len(body)))
		b = append(b, body...)
	}
	now := time.Now().UnixMilli()
	binary.BigEndian.PutUint64(b[0:], 0)                 // base offset
	binary.BigEndian.PutUint32(b[8:], uint32(len(b)-12)) // batch length
	binary.BigEndian.PutUint32(b[12:], 0)                // partition leader epoch
	b[16] = 2                                            // magic
	binary.BigEndian.PutUint16(b[21:], 0)                // attributes
	binary.BigEndian.PutUint32(b[23:], uint32(count-1))  // last offset delta
	binary.BigEndian.PutUint64(b[27:], uint64(now))      // base timestamp
	binary.BigEndian.PutUint64(b[35:], uint64(now))      // max timestamp
	binary.BigEndian.PutUint64(b[43:], ^uint64(0))       // producer id -1
	binary.BigEndian.PutUint16(b[51:], ^uint16(0))       // producer epoch -1
	binary.BigEndian.PutUint32(b[53:], ^uint32(0))       // base sequence -1
	binary.BigEndian.PutUint32(b[57:], uint32(count))    // records
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], castagnoli))
	return b
}

func produceRequest(topic string, partition int, batch []byte, acks int) []byte {
	var m []byte
	m = protowire.AppendTag(m, 1, protowire.BytesType)
	m = protowire.AppendString(m, topic)
	m = protowire.AppendTag(m, 2, protowire.VarintType)
	m = protowire.AppendVarint(m, uint64(partition))
	m = protowire.AppendTag(m, 4, protowire.BytesType)
	m = protowire.AppendBytes(m, batch)
	m = protowire.AppendTag(m, 5, protowire.VarintType)
	m = protowire.AppendVarint(m, uint64(int64(acks)))
	return m
}

// streamRequest wraps a ProduceBatchRequest as ProduceStreamRequest {id = 1, batch = 2}.
func streamRequest(id uint64, batch []byte) []byte {
	var m []byte
	m = protowire.AppendTag(m, 1, protowire.VarintType)
	m = protowire.AppendVarint(m, id)
	m = protowire.AppendTag(m, 2, protowire.BytesType)
	m = protowire.AppendBytes(m, batch)
	return m
}

// streamAnswer reads ProduceStreamResponse: its id, and the message of its error (field 3) if any.
func streamAnswer(msg []byte) (id uint64, errMsg string, err error) {
	for len(msg) > 0 {
		num, typ, n := protowire.ConsumeTag(msg)
		if n < 0 {
			return 0, "", protowire.ParseError(n)
		}
		msg = msg[n:]
		if num == 1 && typ == protowire.VarintType {
			v, n := protowire.ConsumeVarint(msg)
			if n < 0 {
				return 0, "", protowire.ParseError(n)
			}
			id = v
			msg = msg[n:]
			continue
		}
		if num == 3 && typ == protowire.BytesType {
			v, n := protowire.ConsumeBytes(msg)
			if n < 0 {
				return 0, "", protowire.ParseError(n)
			}
			errMsg = fmt.Sprintf("ProduceStreamError %x", v)
			msg = msg[n:]
			continue
		}
		n = protowire.ConsumeFieldValue(num, typ, msg)
		if n < 0 {
			return 0, "", protowire.ParseError(n)
		}
		msg = msg[n:]
	}
	return id, errMsg, nil
}

func subscribeRequest(topic string, partition int) []byte {
	var m []byte
	m = protowire.AppendTag(m, 1, protowire.BytesType)
	m = protowire.AppendString(m, topic)
	m = protowire.AppendTag(m, 2, protowire.VarintType)
	m = protowire.AppendVarint(m, uint64(partition))
	m = protowire.AppendTag(m, 5, protowire.VarintType)
	m = protowire.AppendVarint(m, 1) // raw: stored batches
	return m
}

// recordBatches returns SubscribeResponse.record_batches (field 4).
func recordBatches(msg []byte) ([]byte, error) {
	for len(msg) > 0 {
		num, typ, n := protowire.ConsumeTag(msg)
		if n < 0 {
			return nil, protowire.ParseError(n)
		}
		msg = msg[n:]
		if num == 4 && typ == protowire.BytesType {
			v, n := protowire.ConsumeBytes(msg)
			if n < 0 {
				return nil, protowire.ParseError(n)
			}
			return v, nil
		}
		n = protowire.ConsumeFieldValue(num, typ, msg)
		if n < 0 {
			return nil, protowire.ParseError(n)
		}
		msg = msg[n:]
	}
	return nil, nil
}

// eachValue calls fn with the value of every record in uncompressed RecordBatch v2 batches.
func eachValue(batches []byte, fn func([]byte)) error {
	for len(batches) >= 61 {
		length := int(binary.BigEndian.Uint32(batches[8:])) + 12
		if length > len(batches) || length < 61 {
			return errors.New("truncated batch")
		}
		if binary.BigEndian.Uint16(batches[21:])&7 != 0 {
			return errors.New("compressed batch: the generator sends none")
		}
		count := int(binary.BigEndian.Uint32(batches[57:]))
		r := batches[61:length]
		for i := 0; i < count; i++ {
			bodyLen, n := binary.Varint(r)
			if n <= 0 || int(bodyLen) > len(r)-n {
				return errors.New("bad record length")
			}
			body := r[n : n+int(bodyLen)]
			r = r[n+int(bodyLen):]
			p := 1                   // attributes
			for k := 0; k < 2; k++ { // timestamp delta, offset delta
				_, m := binary.Varint(body[p:])
				p += m
			}
			keyLen, m := binary.Varint(body[p:])
			p += m
			if keyLen > 0 {
				p += int(keyLen)
			}
			valueLen, m := binary.Varint(body[p:])
			p += m
			if valueLen >= 8 && p+int(valueLen) <= len(body) {
				fn(body[p : p+int(valueLen)])
			}
		}
		batches = batches[length:]
	}
	return nil
}

type summary struct {
	Count  int     `json:"count"`
	P50Ms  float64 `json:"p50Ms"`
	P99Ms  float64 `json:"p99Ms"`
	P999Ms float64 `json:"p999Ms"`
	MaxMs  float64 `json:"maxMs"`
	MeanMs float64 `json:"meanMs"`
}

// summarize gives nearest-rank percentiles of microsecond samples, in milliseconds.
func summarize(us []int64) summary {
	if len(us) == 0 {
		return summary{}
	}
	sort.Slice(us, func(i, j int) bool { return us[i] < us[j] })
	at := func(p float64) float64 {
		i := int(float64(len(us))*p/100+0.999999) - 1
		if i < 0 {
			i = 0
		}
		if i >= len(us) {
			i = len(us) - 1
		}
		return float64(us[i]) / 1000
	}
	var sum int64
	for _, v := range us {
		sum += v
	}
	return summary{len(us), at(50), at(99), at(99.9), float64(us[len(us)-1]) / 1000, float64(sum) / float64(len(us)) / 1000}
}

// cpuSeconds is this process's user and system CPU time so far.
func cpuSeconds() float64 {
	var u syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &u); err != nil {
		return -1
	}
	return float64(u.Utime.Nano()+u.Stime.Nano()) / 1e9
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "broker gRPC address")
	topic := flag.String("topic", "latency", "topic (must exist)")
	partition := flag.Int("partition", 0, "partition")
	size := flag.Int("size", 100, "record bytes (at least 8)")
	batch := flag.Int("batch", 100, "records per ProduceBatch")
	rate := flag.Float64("rate", 10000, "records per second offered (0: closed loop, as fast as possible)")
	acks := flag.Int("acks", 1, "acks")
	warmup := flag.Duration("warmup", time.Second, "sent, not measured")
	duration := flag.Duration("duration", 5*time.Second, "measured")
	maxInFlight := flag.Int("inflight", 64, "calls in flight at most")
	grace := flag.Duration("grace", 10*time.Second, "how long the consumer waits for the last records")
	useStream := flag.Bool("stream", false, "send the batches as ProduceStream messages on one call")
	consume := flag.Bool("consume", true, "tail the partition with Subscribe and measure end-to-end latency")
	flag.Parse()
	if *size < 8 {
		fail(errors.New("-size must be at least 8"))
	}

	conn, err := grpc.Dial(*addr, grpc.WithInsecure(), grpc.WithDefaultCallOptions(grpc.ForceCodec(rawCodec{})),
		grpc.WithInitialWindowSize(8<<20), grpc.WithInitialConnWindowSize(8<<20))
	if err != nil {
		fail(err)
	}
	defer conn.Close()

	// The consumer: open before the first send, from the partition's start.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stream grpc.ClientStream
	if *consume {
		stream, err = conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, "/tsbroker.v1.Broker/Subscribe")
		if err != nil {
			fail(err)
		}
		req := subscribeRequest(*topic, *partition)
		if err := stream.SendMsg(&req); err != nil {
			fail(err)
		}
		if err := stream.CloseSend(); err != nil {
			fail(err)
		}
	}
	start := time.Now()
	warmupEnd := start.Add(*warmup)
	end := warmupEnd.Add(*duration)
	var batchEvery time.Duration
	expected := 1 << 20
	if *rate > 0 {
		batchEvery = time.Duration(float64(time.Second) * float64(*batch) / *rate)
		expected = int(*duration/batchEvery) * *batch
	}

	var mu sync.Mutex // guards latencies and warmupRecords
	latencies := make([]int64, 0, expected)
	warmupRecords := 0
	consumed := make(chan error, 1)
	go func() {
		for stream != nil {
			var msg []byte
			if err := stream.RecvMsg(&msg); err != nil {
				consumed <- err
				return
			}
			b, err := recordBatches(msg)
			if err != nil {
				consumed <- err
				return
			}
			now := time.Now().UnixNano()
			mu.Lock()
			err = eachValue(b, func(v []byte) {
				due := int64(binary.LittleEndian.Uint64(v))
				if due < 0 {
					warmupRecords++
					return
				}
				latencies = append(latencies, (now-due)/1000)
			})
			mu.Unlock()
			if err != nil {
				consumed <- err
				return
			}
		}
	}()

	// The producer: batch i is due at start + i*batchEvery, sent then or as soon as a call slot frees.
	var failed int64
	var sent int64
	var lags []int64
	var acksMu sync.Mutex // guards ackUs
	var ackUs []int64
	var wg sync.WaitGroup
	slots := make(chan struct{}, *maxInFlight)
	// With -stream: one ProduceStream call, its requests named by the batch number; the answers are
	// matched to their send time and whether they are measured.
	type pendingBatch struct {
		sentAt   time.Time
		measured bool
	}
	var produceCall grpc.ClientStream
	var pendingMu sync.Mutex
	pending := map[uint64]pendingBatch{}
	answered := make(chan error, 1)
	settle := func(measured bool, sentAt time.Time, err error) {
		if measured {
			acksMu.Lock()
			ackUs = append(ackUs, time.Since(sentAt).Microseconds())
			acksMu.Unlock()
		}
		if err != nil {
			atomic.AddInt64(&failed, 1)
			fmt.Fprintln(os.Stderr, "produce:", err)
		} else if measured {
			atomic.AddInt64(&sent, int64(*batch))
		}
	}
	if *useStream {
		produceCall, err = conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true, ClientStreams: true},
			"/tsbroker.v1.Broker/ProduceStream")
		if err != nil {
			fail(err)
		}
		go func() {
			for {
				var msg []byte
				if err := produceCall.RecvMsg(&msg); err != nil {
					answered <- err
					return
				}
				id, errMsg, err := streamAnswer(msg)
				if err != nil {
					answered <- err
					return
				}
				pendingMu.Lock()
				p, ok := pending[id]
				delete(pending, id)
				pendingMu.Unlock()
				if !ok {
					answered <- fmt.Errorf("an answer for request %d, which is not in flight", id)
					return
				}
				var e error
				if errMsg != "" {
					e = errors.New(errMsg)
				}
				settle(p.measured, p.sentAt, e)
				wg.Done()
				<-slots
			}
		}()
	}
	for i := 0; ; i++ {
		due := start.Add(time.Duration(i) * batchEvery)
		if *rate <= 0 {
			slots <- struct{}{}
			due = time.Now()
		}
		if !due.Before(end) {
			if *rate <= 0 {
				<-slots
			}
			break
		}
		if *rate > 0 {
			if d := time.Until(due); d > 0 {
				time.Sleep(d)
			}
			slots <- struct{}{}
		}
		measured := !due.Before(warmupEnd)
		stamp := int64(-1)
		if measured {
			stamp = due.UnixNano()
			lags = append(lags, time.Since(due).Microseconds())
		}
		body := produceRequest(*topic, *partition, recordBatch(*batch, *size, stamp), *acks)
		wg.Add(1)
		if produceCall != nil {
			id := uint64(i)
			msg := streamRequest(id, body)
			pendingMu.Lock()
			pending[id] = pendingBatch{time.Now(), measured}
			pendingMu.Unlock()
			if err := produceCall.SendMsg(&msg); err != nil {
				fail(fmt.Errorf("ProduceStream send: %v", err))
			}
			continue
		}
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			var reply []byte
			sentAt := time.Now()
			err := conn.Invoke(context.Background(), "/tsbroker.v1.Broker/ProduceBatch", &body, &reply)
			settle(measured, sentAt, err)
		}()
	}
	if produceCall != nil {
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case err := <-answered:
			fail(fmt.Errorf("ProduceStream ended: %v", err))
		}
		if err := produceCall.CloseSend(); err != nil {
			fail(err)
		}
	}
	wg.Wait()
	// Wait for every acknowledged measured record, or the grace period, or the stream's end.
	deadline := time.Now().Add(*grace)
	for stream != nil && time.Now().Before(deadline) {
		mu.Lock()
		got := len(latencies)
		mu.Unlock()
		if int64(got) >= sent {
			break
		}
		select {
		case err := <-consumed:
			fail(fmt.Errorf("subscribe ended: %v", err))
		case <-time.After(5 * time.Millisecond):
		}
	}
	cancel()
	mu.Lock()
	defer mu.Unlock()
	lag := summarize(lags)
	acksMu.Lock()
	ack := summarize(ackUs)
	acksMu.Unlock()
	out := struct {
		summary
		// From each measured call's send to its acknowledgement.
		AckP50Ms    float64 `json:"ackP50Ms"`
		AckP99Ms    float64 `json:"ackP99Ms"`
		SentRecords int64   `json:"sentRecords"`
		// Measured records acknowledged per second of the measured period.
		RecordsPerSec float64 `json:"recordsPerSec"`
		FailedBatches int64   `json:"failedBatches"`
		WarmupRecords int     `json:"warmupRecords"`
		SendLagP99Ms  float64 `json:"sendLagP99Ms"`
		CPUSeconds    float64 `json:"cpuSeconds"`
	}{summarize(latencies), ack.P50Ms, ack.P99Ms, sent, float64(sent) / duration.Seconds(), failed, warmupRecords, lag.P99Ms, cpuSeconds()}
	j, _ := json.Marshal(out)
	fmt.Println(string(j))
}

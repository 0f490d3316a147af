// JetStream load generator for the benchmark suite (issue 7): publishes `-records` messages of
// `-size` bytes to a file-storage stream with up to `-window` asynchronous publishes awaiting their
// acknowledgement (the JetStream counterpart of our `acks=1` batches in flight), then reads them
// back with a pull consumer in batches of `-fetch`. Prints one JSON line.
//
// Built at bench time with Debian's Go toolchain and golang-github-nats-io-go-nats-dev, offline:
//   GO111MODULE=off GOPATH=/usr/share/gocode go build -o jetstream-load jetstream-load.go
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/nats-io/nats.go"
)

func fail(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}

func main() {
	url := flag.String("url", nats.DefaultURL, "server URL")
	records := flag.Int("records", 100000, "messages to publish")
	size := flag.Int("size", 100, "message bytes")
	window := flag.Int("window", 8000, "asynchronous publishes awaiting acknowledgement")
	fetch := flag.Int("fetch", 1000, "messages per pull")
	stream := flag.String("stream", "BENCH", "stream name")
	flag.Parse()

	nc, err := nats.Connect(*url)
	if err != nil {
		fail(err)
	}
	defer nc.Close()
	js, err := nc.JetStream(nats.PublishAsyncMaxPending(*window))
	if err != nil {
		fail(err)
	}
	subject := "bench." + *stream
	_ = js.DeleteStream(*stream)
	if _, err := js.AddStream(&nats.StreamConfig{Name: *stream, Subjects: []string{subject}, Storage: nats.FileStorage}); err != nil {
		fail(err)
	}
	payload := make([]byte, *size)
	for i := range payload {
		payload[i] = 'x'
	}

	start := time.Now()
	for i := 0; i < *records; i++ {
		if _, err := js.PublishAsync(subject, payload); err != nil {
			fail(err)
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(10 * time.Minute):
		fail(fmt.Errorf("publish acknowledgements timed out"))
	}
	produceSec := time.Since(start).Seconds()

	sub, err := js.PullSubscribe(subject, "bench-reader", nats.DeliverAll(), nats.AckNone())
	if err != nil {
		fail(err)
	}
	start = time.Now()
	got := 0
	for got < *records {
		msgs, err := sub.Fetch(*fetch, nats.MaxWait(5*time.Second))
		if err != nil {
			fail(err)
		}
		got += len(msgs)
	}
	consumeSec := time.Since(start).Seconds()

	out, _ := json.Marshal(map[string]any{
		"records":           *records,
		"size":              *size,
		"produceSeconds":    produceSec,
		"produceRecordsPerSec": float64(*records) / produceSec,
		"consumeSeconds":    consumeSec,
		"consumeRecordsPerSec": float64(got) / consumeSec,
	})
	fmt.Println(string(out))
}

package metrics

import (
	"maps"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/client"
)

// sdkCollector holds the Temporal SDK's metrics. The SDK names a metric
// and tags it as it goes, and one name can come with different tag sets,
// which Prometheus' fixed label sets do not allow; so series are kept by
// name and tags, and at each scrape every series of a name is given the
// union of that name's tag keys (empty where a series lacks one).
type sdkCollector struct {
	mu     sync.Mutex
	series map[string]*series // by name and sorted tags
}

type kind int

const (
	counter kind = iota
	gauge
	timer
)

type series struct {
	name  string
	kind  kind
	tags  map[string]string
	value float64 // counter total, gauge value, timer sum (seconds)
	count uint64  // timer observations
	// buckets counts timer observations at or under each bound.
	buckets []uint64
}

var timerBounds = []float64{0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 60}

func newSDKCollector() *sdkCollector { return &sdkCollector{series: map[string]*series{}} }

var badName = regexp.MustCompile(`[^a-zA-Z0-9_]`)

func (c *sdkCollector) get(name string, k kind, tags map[string]string) *series {
	name = badName.ReplaceAllString(name, "_")
	if k == timer {
		name += "_seconds"
	}
	var b strings.Builder
	b.WriteString(name)
	for _, t := range slices.Sorted(maps.Keys(tags)) {
		b.WriteString("\x00" + t + "=" + tags[t])
	}
	key := b.String()
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.series[key]
	if !ok {
		s = &series{name: name, kind: k, tags: tags}
		if k == timer {
			s.buckets = make([]uint64, len(timerBounds))
		}
		c.series[key] = s
	}
	return s
}

func (c *sdkCollector) handler(tags map[string]string) client.MetricsHandler {
	return &sdkHandler{c: c, tags: tags}
}

// Describe sends nothing: the collector is unchecked, as its series are
// only known as the SDK reports them.
func (c *sdkCollector) Describe(chan<- *prometheus.Desc) {}

func (c *sdkCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	byName := map[string][]*series{}
	for _, s := range c.series {
		byName[s.name] = append(byName[s.name], s)
	}
	for name, all := range byName {
		keys := map[string]bool{}
		for _, s := range all {
			for k := range s.tags {
				keys[k] = true
			}
		}
		labels := slices.Sorted(maps.Keys(keys))
		for i, l := range labels {
			labels[i] = badName.ReplaceAllString(l, "_")
		}
		desc := prometheus.NewDesc(name, "Temporal SDK metric "+name+".", labels, nil)
		for _, s := range all {
			values := make([]string, 0, len(keys))
			for _, k := range slices.Sorted(maps.Keys(keys)) {
				values = append(values, s.tags[k])
			}
			switch s.kind {
			case counter:
				ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, s.value, values...)
			case gauge:
				ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, s.value, values...)
			case timer:
				b := map[float64]uint64{}
				for i, bound := range timerBounds {
					b[bound] = s.buckets[i]
				}
				ch <- prometheus.MustNewConstHistogram(desc, s.count, s.value, b, values...)
			}
		}
	}
}

type sdkHandler struct {
	c    *sdkCollector
	tags map[string]string
}

func (h *sdkHandler) WithTags(tags map[string]string) client.MetricsHandler {
	merged := maps.Clone(h.tags)
	if merged == nil {
		merged = map[string]string{}
	}
	maps.Copy(merged, tags)
	return &sdkHandler{c: h.c, tags: merged}
}

func (h *sdkHandler) Counter(name string) client.MetricsCounter {
	return sdkCounter{h.c, h.c.get(name, counter, h.tags)}
}
func (h *sdkHandler) Gauge(name string) client.MetricsGauge {
	return sdkGauge{h.c, h.c.get(name, gauge, h.tags)}
}
func (h *sdkHandler) Timer(name string) client.MetricsTimer {
	return sdkTimer{h.c, h.c.get(name, timer, h.tags)}
}

type sdkCounter struct {
	c *sdkCollector
	s *series
}

func (x sdkCounter) Inc(n int64) { x.c.mu.Lock(); x.s.value += float64(n); x.c.mu.Unlock() }

type sdkGauge struct {
	c *sdkCollector
	s *series
}

func (x sdkGauge) Update(v float64) { x.c.mu.Lock(); x.s.value = v; x.c.mu.Unlock() }

type sdkTimer struct {
	c *sdkCollector
	s *series
}

func (x sdkTimer) Record(d time.Duration) {
	x.c.mu.Lock()
	defer x.c.mu.Unlock()
	secs := d.Seconds()
	x.s.value += secs
	x.s.count++
	for i, bound := range timerBounds {
		if secs <= bound {
			x.s.buckets[i]++
		}
	}
}

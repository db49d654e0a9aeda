package brokerlisten

// serveStack is the goroutine stack a mochi connection settles at. Its read
// goroutine passes packets.Packet (about 800 bytes) by value through a dozen
// frames: connect, subscribe and the retained status written back, or a
// publish through the hooks, take 20–26 KB of stack (from the frame sizes of
// mochi 2.7.9, `go build -gcflags=-S`). A goroutine starts at a few KB and
// doubles on demand, each time copying its stack and walking every frame to
// fix pointers: four copies of an ever deeper stack per connection. In a
// reconnect storm of 7,000 offices that copying was 13 % of the fleet's CPU
// (docs/benchmarks.md).
const serveStack = 32 << 10

// growStack grows the calling goroutine's stack to serveStack in one copy,
// taken while the stack is still shallow and cheap to move. The runtime
// sizes a growth to fit the frame that needs it, so a frame of half of
// serveStack (plus what is already in use, rounded up to a power of two)
// does it. The GC may shrink the stack later if the connection sits idle.
//
//go:noinline
func growStack() byte {
	var frame [serveStack / 2]byte
	// Indexing by a variable the compiler cannot see through keeps the frame.
	frame[stackIndex%len(frame)] = 1
	return frame[stackIndex%len(frame)]
}

// stackIndex is only ever read (no data race between connections).
var stackIndex = 1

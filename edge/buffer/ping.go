package buffer

// Ping returns once the owner goroutine has committed an (empty) transaction:
// proof that the committer is not wedged, e.g. on a disk that stopped
// answering. It blocks for as long as the committer does, which is the point:
// the daemon's systemd watchdog pings only after Ping returns, so a wedged
// committer gets the service restarted. Seq 0 is never assigned, so deleting
// it removes nothing; the cost is one small commit per call.
func (b *Buffer) Ping() error {
	_, err := b.Delete(0, 0)
	return err
}

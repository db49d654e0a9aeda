package ocpp

// Close releases the listener New bound, for a caller that will not Run the
// service after all (the edge failing to start after building it). Run
// closes it itself on return.
func (s *Service) Close() error { return s.ln.Close() }

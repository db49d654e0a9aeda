package edge

// buildDrivers creates the device services named in the config. Each protocol
// package validates its own section; a driver that cannot be built stops the
// daemon before anything starts.
func (d *Daemon) buildDrivers() error {
	return nil
}

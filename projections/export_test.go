package projections

// SetAfterBatch installs the rebuild's test hook: an error from f interrupts the rebuild after a
// committed batch.
func SetAfterBatch(o *RebuildOptions, f func(name string, done int64) error) { o.afterBatch = f }

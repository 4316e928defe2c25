// Package iotest holds what tests of I/O handles share: reading an
// io_data entry the way iohandle.Out's IOData is asked to (calling read
// until it says no more), for fakes that record entries instead of
// building frames.
package iotest

// Chunks calls read with a fresh slice of size bytes until it says no
// more, and returns the chunks it kept, each cut to the bytes read.
func Chunks(size int, read func(p []byte) (n int, keep, more bool)) [][]byte {
	var chunks [][]byte
	for more := true; more; {
		p := make([]byte, size)
		var n int
		var keep bool
		n, keep, more = read(p)
		if keep {
			chunks = append(chunks, p[:n])
		}
	}
	return chunks
}

package s3store

import "testing"

// Whatever the last dump's size, an upload that starts at the smallest part
// size fits a 5 TB dump in S3's 10,000 parts, and never makes a part above
// S3's 5 GiB limit on the way.
func TestPartsHoldFiveTerabytes(t *testing.T) {
	for _, first := range []int64{minPartSize, 1 << 30, 3 << 30} {
		size, total := first, int64(0)
		for num := int32(1); num <= maxParts; num++ {
			if size > 5<<30 {
				t.Fatalf("from %d: part %d would be %d bytes, above S3's 5 GiB limit", first, num, size)
			}
			total += size
			size = grow(size, num)
		}
		if total < 5e12 {
			t.Errorf("from %d: 10,000 parts hold %d bytes; a 5 TB dump does not fit", first, total)
		}
	}
}

package mongo

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"go.mongodb.org/mongo-driver/bson"
)

// ArchiveFormat names the stream layout (docs/mongo-archive.md).
const ArchiveFormat = "envsync-mongo-archive/1"

// Record types.
const (
	recHeader     = 'H'
	recCollection = 'C'
	recDocument   = 'D'
	recView       = 'V'
	recEnd        = 'E'
)

// maxDoc is MongoDB's document limit plus room for our headers.
const maxDoc = 48 << 20

type archiveWriter struct {
	w *bufio.Writer
}

func newArchiveWriter(w io.Writer) *archiveWriter {
	return &archiveWriter{bufio.NewWriterSize(w, 1<<20)}
}

func (a *archiveWriter) raw(t byte, doc []byte) error {
	if err := a.w.WriteByte(t); err != nil {
		return err
	}
	_, err := a.w.Write(doc)
	return err
}

func (a *archiveWriter) doc(t byte, v any) error {
	b, err := bson.Marshal(v)
	if err != nil {
		return err
	}
	return a.raw(t, b)
}

func (a *archiveWriter) flush() error { return a.w.Flush() }

type archiveReader struct {
	r *bufio.Reader
}

func newArchiveReader(r io.Reader) *archiveReader {
	return &archiveReader{bufio.NewReaderSize(r, 1<<20)}
}

// next returns the next record; io.ErrUnexpectedEOF for a stream cut short.
func (a *archiveReader) next() (byte, bson.Raw, error) {
	t, err := a.r.ReadByte()
	if err == io.EOF {
		return 0, nil, fmt.Errorf("archive ends without its trailer: %w", io.ErrUnexpectedEOF)
	}
	if err != nil {
		return 0, nil, err
	}
	var lenBuf [4]byte
	if _, err := io.ReadFull(a.r, lenBuf[:]); err != nil {
		return 0, nil, fmt.Errorf("archive cut inside a record: %w", io.ErrUnexpectedEOF)
	}
	n := binary.LittleEndian.Uint32(lenBuf[:])
	if n < 5 || n > maxDoc {
		return 0, nil, fmt.Errorf("archive record of %d bytes is not BSON", n)
	}
	doc := make([]byte, n)
	copy(doc, lenBuf[:])
	if _, err := io.ReadFull(a.r, doc[4:]); err != nil {
		return 0, nil, fmt.Errorf("archive cut inside a record: %w", io.ErrUnexpectedEOF)
	}
	if err := bson.Raw(doc).Validate(); err != nil {
		return 0, nil, fmt.Errorf("archive record is not valid BSON: %w", err)
	}
	switch t {
	case recHeader, recCollection, recDocument, recView, recEnd:
		return t, bson.Raw(doc), nil
	}
	return 0, nil, errors.New("archive record of unknown type")
}

type header struct {
	Format        string `bson:"format"`
	Database      string `bson:"database"`
	ServerVersion string `bson:"server_version"`
}

type collectionRec struct {
	Name    string   `bson:"name"`
	Options bson.Raw `bson:"options,omitempty"`
	Indexes []bson.D `bson:"indexes,omitempty"`
}

type trailer struct {
	Collections int64 `bson:"collections"`
	Views       int64 `bson:"views"`
	Documents   int64 `bson:"documents"`
}

package mongo

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
)

// Raw BSON goes through the archive byte for byte, Decimal128 included
// (FerretDB has no decimals, so the server round trip cannot show it).
func TestArchiveKeepsRawBSON(t *testing.T) {
	d, _ := primitive.ParseDecimal128("12345.678901234567890123456789")
	doc, _ := bson.Marshal(bson.D{{Key: "_id", Value: 1}, {Key: "price", Value: d}, {Key: "ts", Value: primitive.Timestamp{T: 5, I: 1}}})
	var b bytes.Buffer
	w := newArchiveWriter(&b)
	w.doc(recHeader, header{Format: ArchiveFormat, Database: "x"})
	w.doc(recCollection, collectionRec{Name: "c"})
	w.raw(recDocument, doc)
	w.doc(recEnd, trailer{Collections: 1, Documents: 1})
	w.flush()

	r := newArchiveReader(bytes.NewReader(b.Bytes()))
	var types []byte
	var got bson.Raw
	for {
		typ, raw, err := r.next()
		if err != nil {
			t.Fatal(err)
		}
		types = append(types, typ)
		if typ == recDocument {
			got = raw
		}
		if typ == recEnd {
			break
		}
	}
	if string(types) != "HCDE" || !bytes.Equal(got, doc) {
		t.Errorf("records %q, document equal %v", types, bytes.Equal(got, doc))
	}
	r = newArchiveReader(bytes.NewReader(b.Bytes()[:b.Len()-3]))
	var err error
	for err == nil {
		_, _, err = r.next()
	}
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("truncated archive: %v", err)
	}
}

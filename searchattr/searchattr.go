// Package searchattr names the custom search attributes envsync sets on
// every run, so the Temporal UI and CLI can filter runs by database, action,
// engine and host (e.g. EnvsyncDatabase = "orders" AND ExecutionStatus = "Failed").
package searchattr

import (
	"context"
	"fmt"
	"strings"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/envsync/envsync/config"
)

// The attributes, all keywords.
var (
	Database = temporal.NewSearchAttributeKeyKeyword("EnvsyncDatabase")
	Action   = temporal.NewSearchAttributeKeyKeyword("EnvsyncAction")
	DBMS     = temporal.NewSearchAttributeKeyKeyword("EnvsyncDBMS")
	Host     = temporal.NewSearchAttributeKeyKeyword("EnvsyncHost")
)

var all = []temporal.SearchAttributeKeyKeyword{Database, Action, DBMS, Host}

// Types maps each attribute name to its type, for registration.
func Types() map[string]enumspb.IndexedValueType {
	m := map[string]enumspb.IndexedValueType{}
	for _, k := range all {
		m[k.GetName()] = enumspb.INDEXED_VALUE_TYPE_KEYWORD
	}
	return m
}

// For returns the attributes of a run of task.
func For(t config.Task) temporal.SearchAttributes {
	return temporal.NewSearchAttributes(
		Database.ValueSet(t.Database), Action.ValueSet(t.Action),
		DBMS.ValueSet(t.DBMS), Host.ValueSet(t.WorkerHost))
}

// Register adds any missing attribute to namespace. It needs the operator
// API (admin rights on a shared cluster); workers call it at start.
func Register(ctx context.Context, c client.Client, namespace string) error {
	have, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		return fmt.Errorf("list search attributes of namespace %s: %w", namespace, err)
	}
	missing := map[string]enumspb.IndexedValueType{}
	for name, typ := range Types() {
		if _, ok := have.GetCustomAttributes()[name]; !ok {
			missing[name] = typ
		}
	}
	if len(missing) == 0 {
		return nil
	}
	_, err = c.OperatorService().AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{Namespace: namespace, SearchAttributes: missing})
	if err != nil && !strings.Contains(err.Error(), "already exists") {
		return fmt.Errorf("register search attributes in namespace %s: %w (ask a Temporal admin to run: temporal operator search-attribute create --namespace %s --name EnvsyncDatabase --type Keyword ...)", namespace, err, namespace)
	}
	return nil
}

package graph

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/stretchr/testify/require"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/taskforge/taskforge/domain"
	"github.com/taskforge/taskforge/graph/model"
)

// TestBoardColumns: a board has the workflow's columns in its order, each task in its status's
// column (list order kept), unknown statuses last by name; the parsed workflow is kept and
// shared, never filled with a board's tasks.
func TestBoardColumns(t *testing.T) {
	t.Parallel()
	wf, err := json.Marshal(domain.Workflow{Initial: "todo", Statuses: []domain.Status{
		{ID: "todo", Name: "To do", Category: domain.CategoryTodo},
		{ID: "doing", Name: "Doing", Category: domain.CategoryInProgress},
		{ID: "done", Name: "Done", Category: domain.CategoryDone},
	}})
	require.NoError(t, err)
	var c workflowCache
	tasks := []*model.Task{{Key: "A-1", Status: "done"}, {Key: "A-2", Status: "zz"}, {Key: "A-3", Status: "todo"},
		{Key: "A-4", Status: "done"}, {Key: "A-5", Status: "old"}}
	for range 2 { // parsed, then from the cache
		b := board(c.columns(wf), tasks)
		var got []string
		for _, col := range b {
			var keys []string
			for _, tk := range col.Tasks {
				keys = append(keys, tk.Key)
			}
			got = append(got, col.Status+":"+string(col.Category)+":"+strings.Join(keys, ","))
		}
		require.Equal(t, []string{"todo:TODO:A-3", "doing:IN_PROGRESS:", "done:DONE:A-1,A-4", "old:TODO:A-5", "zz:TODO:A-2"}, got)
		require.NotNil(t, b[1].Tasks, "an empty column is an empty list")
	}
	for _, col := range c.columns(wf) {
		require.Nil(t, col.Tasks, "the kept columns hold no board's tasks")
	}
	require.Len(t, board(c.columns(nil), nil), len(domain.DefaultWorkflow().Statuses), "no workflow: the default one")
	require.Len(t, board(c.columns([]byte("not json")), nil), len(domain.DefaultWorkflow().Statuses))
}

// TestQueryCacheKeepsShortQueries: documents of queries longer than maxCachedQuery are not kept.
func TestQueryCacheKeepsShortQueries(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := queryCache{lru.New[*ast.QueryDocument](4)}
	short, long := "{ me { id } }", "{ me { id } }"+strings.Repeat(" ", maxCachedQuery)
	c.Add(ctx, short, &ast.QueryDocument{})
	c.Add(ctx, long, &ast.QueryDocument{})
	_, ok := c.Get(ctx, short)
	require.True(t, ok)
	_, ok = c.Get(ctx, long)
	require.False(t, ok)
}

package graph

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/taskforge/taskforge/sideeffects"
)

// TestMergeDeadLetters pages through two sources whose ids interleave (and collide): every dead
// letter comes exactly once, newest id first.
func TestMergeDeadLetters(t *testing.T) {
	t.Parallel()
	hookIDs, emailIDs := []int64{9, 7, 5, 3, 1}, []int64{8, 7, 4}
	page := func(cur deadCursor, n int) ([]string, deadCursor, bool) {
		var hooks []sideeffects.Delivery
		for _, id := range hookIDs {
			if (cur.webhook == 0 || id < cur.webhook) && len(hooks) <= n {
				hooks = append(hooks, sideeffects.Delivery{ID: id})
			}
		}
		var emails []sideeffects.Email
		for _, id := range emailIDs {
			if (cur.email == 0 || id < cur.email) && len(emails) <= n {
				emails = append(emails, sideeffects.Email{ID: id})
			}
		}
		conn := mergeDead(hooks, emails, n, cur)
		var ids []string
		for _, e := range conn.Edges {
			ids = append(ids, e.Node.ID)
		}
		var next deadCursor
		if conn.PageInfo.EndCursor != nil {
			c := *conn.PageInfo.EndCursor
			var err error
			next, err = parseDeadCursor(&c)
			require.NoError(t, err)
		}
		return ids, next, conn.PageInfo.HasNextPage
	}
	var all []string
	cur := deadCursor{}
	for range 10 {
		ids, next, more := page(cur, 3)
		all = append(all, ids...)
		if !more {
			break
		}
		cur = next
	}
	require.Equal(t, []string{"webhook-9", "email-8", "email-7", "webhook-7", "webhook-5", "email-4", "webhook-3", "webhook-1"}, all)
}

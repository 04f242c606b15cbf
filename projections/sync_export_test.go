package projections

// ChangesSQL is the statement of a page of sync records, for its plan test.
const ChangesSQL = changesSQL

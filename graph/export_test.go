package graph

// ListCostFields are the fields of the cost model (listCosts), for the schema walk of
// TestEveryListFieldHasACost.
func ListCostFields() map[string]bool {
	out := make(map[string]bool, len(listCosts))
	for k := range listCosts {
		out[k] = true
	}
	return out
}

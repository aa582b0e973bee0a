// Package train fits a fraud classifier on labelled transactions inside the
// clean room: logistic regression on standardised features engineered from
// the transaction graph, trained by full-batch gradient descent (plain Go,
// deterministic for a given seed). Only the model and its metrics leave.
//
// Compare trains the same model on the pooled tables and on each bank's
// table alone, and evaluates all of them on one held-out split of the pooled
// data, so the report shows what pooling buys.
package train

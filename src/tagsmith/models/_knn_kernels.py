"""Compiled kernels of the nearest-neighbour model: neighbour search, voting, pruning.

All run without the GIL (the model gives each thread a block of queries) and are
cached on disk, so the compile cost is paid once per installation.

Feature ids inside the index are ranked by document frequency, most frequent
first, so "features held by more than ``max_posting`` documents" is the id range
``[0, n_frequent)`` and the frequent part of every training row is a prefix of it.
"""

from __future__ import annotations

import numpy as np

from tagsmith._numba import njit


@njit(nogil=True, cache=True)
def _worse(key_a, id_a, key_b, id_b):
    """Whether entry a ranks below b: lower key, ties to the higher id."""
    return key_a < key_b or (key_a == key_b and id_a > id_b)


@njit(nogil=True, cache=True)
def _sift_down(heap_key, heap_id, size, pos):
    # a min-heap on rank: the root is the worst entry kept
    while True:
        child = 2 * pos + 1
        if child >= size:
            return
        if child + 1 < size and _worse(heap_key[child + 1], heap_id[child + 1],
                                       heap_key[child], heap_id[child]):
            child += 1
        if not _worse(heap_key[child], heap_id[child], heap_key[pos], heap_id[pos]):
            return
        heap_key[pos], heap_key[child] = heap_key[child], heap_key[pos]
        heap_id[pos], heap_id[child] = heap_id[child], heap_id[pos]
        pos = child


@njit(nogil=True, cache=True)
def _sift_up(heap_key, heap_id, pos):
    while pos > 0:
        parent = (pos - 1) // 2
        if not _worse(heap_key[pos], heap_id[pos], heap_key[parent], heap_id[parent]):
            return
        heap_key[pos], heap_key[parent] = heap_key[parent], heap_key[pos]
        heap_id[pos], heap_id[parent] = heap_id[parent], heap_id[pos]
        pos = parent


@njit(nogil=True, cache=True)
def heap_offer(heap_key, heap_id, size, capacity, key, item):
    """Offer (key, item) to a heap keeping the ``capacity`` best; returns its new size."""
    if size < capacity:
        heap_key[size] = key
        heap_id[size] = item
        _sift_up(heap_key, heap_id, size)
        return size + 1
    if capacity > 0 and _worse(heap_key[0], heap_id[0], key, item):
        heap_key[0] = key
        heap_id[0] = item
        _sift_down(heap_key, heap_id, size, 0)
    return size


@njit(nogil=True, cache=True)
def heap_drain(heap_key, heap_id, size, out_key, out_id):
    """Empty the heap into ``out_key[:size]``, ``out_id[:size]``, best first."""
    while size > 0:
        size -= 1
        out_key[size] = heap_key[0]
        out_id[size] = heap_id[0]
        heap_key[0] = heap_key[size]
        heap_id[0] = heap_id[size]
        _sift_down(heap_key, heap_id, size, 0)


#: ``q_group`` / ``doc_group`` of :func:`neighbors_kernel` for a search without groups
NO_GROUPS = np.empty(0, np.int64)


@njit(nogil=True, cache=True)
def neighbors_kernel(q_indptr, q_indices, q_data, x_indptr, x_indices, x_data,
                     r_indptr, r_indices, r_data, n_frequent, out_doc, out_sim,
                     q_group, doc_group):
    """The ``out_doc.shape[1]`` most similar documents of each query, best first.

    Queries are CSR rows with sorted feature ids; the training documents are an
    inverted index ``x`` (CSC: per feature, the documents holding it) and rows ``r``
    (CSR, sorted ids). A query's features are read rarest first, the frequent ones
    (id below ``n_frequent``) only until as many documents as neighbours have been
    found. The neighbours are the documents most similar on the features read; their
    similarities are then completed with the features skipped, read from their rows,
    so the similarities returned are exact cosines. Only documents with a positive
    similarity are neighbours; missing places hold doc ``-1``, sim ``0``.

    ``q_group`` (a group id per query) and ``doc_group`` (one per training document),
    both empty or both given, leave out of a query's neighbours every document of its
    group: they are neither neighbours nor counted among the documents found before
    the frequent features are skipped, so the search is that of an index without them
    (leave-one-group-out; at no extra width, however large the group).
    """
    n_docs = len(r_indptr) - 1
    n_neighbors = out_doc.shape[1]
    acc = np.zeros(n_docs, np.float32)
    # whether a doc is listed in ``touched``: an accumulator of 0 is no sign of that, since
    # signed features (hashing with alternating signs, embeddings) can sum to exactly 0
    # midway; a doc was then listed again, the list filled up before every doc reached
    # was in it, and the unlisted docs' sums, never reset, leaked into the next query
    is_touched = np.zeros(n_docs, np.bool_)
    touched = np.empty(n_docs, np.int32)
    heap_sim = np.empty(n_neighbors, np.float32)
    heap_doc = np.empty(n_neighbors, np.int32)
    found_sim = np.empty(n_neighbors, np.float32)
    found_doc = np.empty(n_neighbors, np.int32)
    frequent_query = np.zeros(n_frequent, np.float32)
    grouped = len(doc_group) > 0
    for q in range(len(q_indptr) - 1):
        n_touched = 0
        n_found = 0  # touched documents outside the query's group
        group = q_group[q] if grouped else -1
        skipped_end = q_indptr[q]  # entries [q_indptr[q], skipped_end) are not read
        for p in range(q_indptr[q + 1] - 1, q_indptr[q] - 1, -1):
            feature = q_indices[p]
            if feature < n_frequent and n_found >= n_neighbors:
                skipped_end = p + 1
                break
            weight = q_data[p]
            for r in range(x_indptr[feature], x_indptr[feature + 1]):
                doc = x_indices[r]
                if not is_touched[doc]:
                    is_touched[doc] = True
                    touched[n_touched] = doc
                    n_touched += 1
                    if not grouped or doc_group[doc] != group:
                        n_found += 1
                acc[doc] += weight * x_data[r]
        size = 0
        for t in range(n_touched):
            doc = touched[t]
            sim = acc[doc]
            acc[doc] = 0.0  # reset for the next query
            is_touched[doc] = False
            if sim > 0.0 and (not grouped or doc_group[doc] != group):
                size = heap_offer(heap_sim, heap_doc, size, n_neighbors, sim, doc)
        if skipped_end > q_indptr[q]:
            size = _complete(q_indptr[q], skipped_end, q_indices, q_data, r_indptr, r_indices,
                             r_data, n_frequent, frequent_query, heap_sim, heap_doc, size,
                             found_sim, found_doc)
        for j in range(size, n_neighbors):
            out_doc[q, j] = -1
            out_sim[q, j] = 0.0
        heap_drain(heap_sim, heap_doc, size, out_sim[q], out_doc[q])


@njit(nogil=True, cache=True)
def _complete(q_start, q_end, q_indices, q_data, r_indptr, r_indices, r_data, n_frequent,
              frequent_query, heap_sim, heap_doc, size, found_sim, found_doc):
    """Add the skipped query entries ``[q_start, q_end)`` to the similarities in the heap."""
    for p in range(q_start, q_end):
        frequent_query[q_indices[p]] = q_data[p]
    n_found = size
    heap_drain(heap_sim, heap_doc, n_found, found_sim, found_doc)
    size = 0
    for c in range(n_found):
        doc = found_doc[c]
        sim = found_sim[c]
        for r in range(r_indptr[doc], r_indptr[doc + 1]):
            feature = r_indices[r]
            if feature >= n_frequent:  # ids are sorted: the frequent ones come first
                break
            sim += frequent_query[feature] * r_data[r]
        if sim > 0.0:
            size = heap_offer(heap_sim, heap_doc, size, n_found, sim, doc)
    for p in range(q_start, q_end):
        frequent_query[q_indices[p]] = 0.0
    return size


#: a neighbour whose cosine is at most this does not vote: with signed features
#: (embeddings, hashing with alternating signs) a cosine of exactly 0 comes out of the
#: float32 sums as about 1e-8, and voted with full strength at ``power=0`` (x**0 == 1)
VOTE_MIN_SIM = 1e-6

#: a row's largest vote strength ``sim**power`` below this (``power`` of a few hundred:
#: 0.5**1000 is 1e-301) is computed as ``(sim / largest sim)**power`` instead, whose
#: ratios are the same but which do not underflow to 0; for ``power`` up to 30 no cosine
#: above :data:`VOTE_MIN_SIM` comes near it, so those votes keep their bits
_SMALLEST_STRENGTH = 2.0 ** -600
#: ... and above this (a cosine a hair above 1 from float32 rounding, 1.0000001, raised
#: to a ``power`` of 1e10 or more overflowed to inf, and its votes were inf / inf, NaN)
_LARGEST_STRENGTH = 2.0 ** 600


#: ``self_doc`` and the left-out weights of :func:`vote_kernel` for queries that are not
#: training documents (nothing left out of the label frequencies)
NOTHING_LEFT_OUT = (np.empty(0, np.int64), np.zeros(1, np.int64), np.empty(0, np.int32),
                    np.empty(0), np.empty(0))


@njit(nogil=True, cache=True)
def vote_kernel(nb_doc, nb_sim, power, y_indptr, y_indices, y_data, doc_weight, label_order,
                out_indices, out_scores, prior, self_doc, left_indptr, left_indices, left_data,
                left_scale):
    """Similarity-weighted label votes of each query's neighbours; top-k, best first.

    The score of a label is ``sum sim**power * weight * y / sum sim**power * weight``
    over the neighbours with a cosine above :data:`VOTE_MIN_SIM`. Ties go to the lower
    label id; labels without votes follow with score 0 in ``label_order`` (most
    frequent first). Where the largest ``sim**power`` would underflow or overflow, every
    similarity is first divided by the largest (:data:`_SMALLEST_STRENGTH`,
    :data:`_LARGEST_STRENGTH`).

    ``self_doc`` (empty, or a row of the left-out weights per query, -1 for none) leaves
    what a query's own document (or its group of copies) gave the label frequencies out
    of them too, as a model fitted without it would: the labels of row ``self_doc[q]``
    of the CSR ``left_indptr, left_indices, left_data`` (label ids sorted, unique) without
    votes take the places ``prior`` (the frequencies ``label_order`` sorts, ties to the
    lower id) less ``left_scale[row] * left_data`` gives them. Leaving one document
    out, the rows are the targets and the scales the documents' weights; leaving a
    group out, one row per group holds its documents' weighted target sums (scale 1).
    """
    n_labels = len(label_order)
    k = out_indices.shape[1]
    votes = np.zeros(n_labels, np.float64)
    voted = np.zeros(n_labels, np.bool_)
    own = np.zeros(n_labels, np.bool_)
    own_label = np.empty(n_labels, np.int32)
    own_prior = np.empty(n_labels, np.float64)
    candidates = np.empty(n_labels, np.int32)
    heap_score = np.empty(k, np.float64)
    heap_label = np.empty(k, np.int32)
    best_score = np.empty(k, np.float64)
    for q in range(nb_doc.shape[0]):
        n_candidates = 0
        total = 0.0
        top = 0.0
        for j in range(nb_doc.shape[1]):
            if nb_doc[q, j] < 0:
                break
            top = max(top, np.float64(nb_sim[q, j]))
        scale = top if power != 1.0 and top > 0.0 \
            and not _SMALLEST_STRENGTH <= top ** power <= _LARGEST_STRENGTH else 1.0
        for j in range(nb_doc.shape[1]):
            doc = nb_doc[q, j]
            if doc < 0:
                break
            sim = np.float64(nb_sim[q, j])
            if sim <= VOTE_MIN_SIM:
                continue
            if scale != 1.0:
                sim /= scale
            strength = (sim if power == 1.0 else sim ** power) * doc_weight[doc]
            total += strength
            for r in range(y_indptr[doc], y_indptr[doc + 1]):
                label = y_indices[r]
                if not voted[label]:
                    voted[label] = True
                    candidates[n_candidates] = label
                    n_candidates += 1
                votes[label] += strength * y_data[r]
        size = 0
        for c in range(n_candidates):
            label = candidates[c]
            score = votes[label] / total if total > 0.0 else 0.0
            size = heap_offer(heap_score, heap_label, size, k, score, label)
        filled = size
        heap_drain(heap_score, heap_label, size, best_score, out_indices[q])
        for c in range(filled):
            out_scores[q, c] = best_score[c]
        # the labels of the query's own document, by the frequency they have without it
        me = self_doc[q] if len(self_doc) else -1
        n_own = 0
        if me >= 0:
            for r in range(left_indptr[me], left_indptr[me + 1]):
                label = left_indices[r]
                own[label] = True
                if voted[label]:
                    continue
                p = prior[label] - left_scale[me] * left_data[r]
                # only the best k can be placed (fewer, past the votes): a group's row
                # holds every label of its copies, thousands where the copies are, and
                # an insertion sort of them all cost its square per query
                if n_own == k and (own_prior[k - 1] > p
                                   or (own_prior[k - 1] == p and own_label[k - 1] < label)):
                    continue
                i = min(n_own, k - 1)
                while i > 0 and (own_prior[i - 1] < p
                                 or (own_prior[i - 1] == p and own_label[i - 1] > label)):
                    own_prior[i] = own_prior[i - 1]
                    own_label[i] = own_label[i - 1]
                    i -= 1
                own_prior[i] = p
                own_label[i] = label
                n_own = min(n_own + 1, k)
        position = 0
        o = 0
        while filled < k:
            while position < n_labels and (voted[label_order[position]]
                                           or own[label_order[position]]):
                position += 1
            if o < n_own and (position == n_labels
                              or own_prior[o] > prior[label_order[position]]
                              or (own_prior[o] == prior[label_order[position]]
                                  and own_label[o] < label_order[position])):
                label = own_label[o]
                o += 1
            else:
                label = label_order[position]
                position += 1
            out_indices[q, filled] = label
            out_scores[q, filled] = 0.0
            filled += 1
        if me >= 0:
            for r in range(left_indptr[me], left_indptr[me + 1]):
                own[left_indices[r]] = False
        for c in range(n_candidates):
            votes[candidates[c]] = 0.0
            voted[candidates[c]] = False


@njit(nogil=True, cache=True)
def prune_rows_kernel(indptr, indices, data, max_features):
    """Keep each CSR row's ``max_features`` largest-magnitude entries (ties: lower column)."""
    n_rows = len(indptr) - 1
    new_indptr = np.zeros(n_rows + 1, np.int64)
    for row in range(n_rows):
        new_indptr[row + 1] = new_indptr[row] + min(indptr[row + 1] - indptr[row], max_features)
    new_indices = np.empty(new_indptr[-1], indices.dtype)
    new_data = np.empty(new_indptr[-1], data.dtype)
    for row in range(n_rows):
        start, end, out = indptr[row], indptr[row + 1], new_indptr[row]
        if end - start <= max_features:
            new_indices[out:out + end - start] = indices[start:end]
            new_data[out:out + end - start] = data[start:end]
            continue
        row_indices = indices[start:end]
        row_data = data[start:end]
        # columns are sorted within the row, so a stable sort keeps ties in column order
        keep = np.sort(np.argsort(-np.abs(row_data), kind="mergesort")[:max_features])
        for j in range(max_features):
            new_indices[out + j] = row_indices[keep[j]]
            new_data[out + j] = row_data[keep[j]]
    return new_indptr, new_indices, new_data


@njit(nogil=True, cache=True)
def has_repeated_column_kernel(indptr, indices, n_cols):
    """Whether any row of a CSR structure lists a column twice (in any order): one
    pass with a per-row stamp per column, no copy or sort of the matrix."""
    stamp = np.full(n_cols, -1, np.int64)
    for row in range(len(indptr) - 1):
        for j in range(indptr[row], indptr[row + 1]):
            col = indices[j]
            if stamp[col] == row:
                return True
            stamp[col] = row
    return False


@njit(nogil=True, cache=True)
def pair_dots_kernel(a_indptr, a_indices, a_data, b_indptr, b_indices, b_data, rows_a,
                     rows_b, n_cols):
    """Dot product (float64 sum) of row ``rows_a[p]`` of A and row ``rows_b[p]`` of B
    for each pair ``p`` (``n_cols`` columns, each row's column ids sorted and distinct).
    Row ``rows_a[p]`` is scattered into a dense array (once for a run of pairs of that
    row: pairs come grouped by it), and B's row's entries read it in column order:
    the columns A's row lacks add 0.0, so the sum is that of a merge of the two rows
    (the shared columns' products in column order) to the bit, without a merge's
    unpredictable branch per entry (7.4 s of 8.4 for 134,794 pairs of Reuters texts)."""
    out = np.zeros(len(rows_a), np.float64)
    dense = np.zeros(n_cols, np.float64)
    current = -1
    for p in range(len(rows_a)):
        row = rows_a[p]
        if row != current:
            if current >= 0:
                for i in range(a_indptr[current], a_indptr[current + 1]):
                    dense[a_indices[i]] = 0.0
            for i in range(a_indptr[row], a_indptr[row + 1]):
                dense[a_indices[i]] = np.float64(a_data[i])
            current = row
        total = 0.0
        for j in range(b_indptr[rows_b[p]], b_indptr[rows_b[p] + 1]):
            total += dense[b_indices[j]] * np.float64(b_data[j])
        out[p] = total
    return out


@njit(nogil=True, cache=True)
def prefix_mask_kernel(indptr, data, bound):
    """Per entry of a CSR structure whose rows hold their rarest features first: is
    the norm of it and the row's entries after it at least ``bound``? (Those entries
    are the row's prefix; summed in float64, row by row.)"""
    keep = np.zeros(len(data), np.bool_)
    limit = np.float64(bound) * np.float64(bound)
    for row in range(len(indptr) - 1):
        left = 0.0
        for p in range(indptr[row + 1] - 1, indptr[row] - 1, -1):
            left += np.float64(data[p]) * np.float64(data[p])
            if left >= limit:
                keep[indptr[row]:p + 1] = True
                break
    return keep


@njit(nogil=True, cache=True)
def _root(parent, node):
    while parent[node] != node:
        parent[node] = parent[parent[node]]  # path halving
        node = parent[node]
    return node


@njit(nogil=True, cache=True)
def union_pairs_kernel(parent, rows_a, rows_b):
    """Join the sets of ``rows_a[p]`` and ``rows_b[p]`` for each pair ``p`` (union-find
    over ``parent``, in place; each set's root is its smallest member)."""
    for p in range(len(rows_a)):
        x, y = _root(parent, rows_a[p]), _root(parent, rows_b[p])
        if x < y:
            parent[y] = x
        elif y < x:
            parent[x] = y

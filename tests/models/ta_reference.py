"""Hand-written references for the task-level amalgamation tests (paper eqs. 10-11).

Plain Python arithmetic on lists of floats, sharing no code with mmka or mmdet, so the tests
compare the implementation against an independent reading of the equations.
"""
import itertools
import math
from typing import Dict, List, Sequence, Tuple


def softmax(z: Sequence[float], temperature: float = 1.0) -> List[float]:
    exps = [math.exp(v / temperature) for v in z]
    total = sum(exps)
    return [e / total for e in exps]


def sigmoid(v: float) -> float:
    return 1 / (1 + math.exp(-v))


def kl(p: Sequence[float], z: Sequence[float], head: str, temperature: float = 1.0) -> float:
    """T² · KL(p || student(z / T)): categorical (softmax) or Σ of Bernoulli KLs (sigmoid)."""
    if head == 'softmax':
        q = softmax(z, temperature)
        total = sum(pc * math.log(pc / qc) for pc, qc in zip(p, q) if pc > 0)
    else:
        total = 0.0
        for pc, zc in zip(p, z):
            qc = sigmoid(zc / temperature)
            if pc > 0:
                total += pc * math.log(pc / qc)
            if pc < 1:
                total += (1 - pc) * math.log((1 - pc) / (1 - qc))
    return total * temperature**2


def cxcywh_to_xyxy(box: Sequence[float], img_shape: Tuple[int, int]) -> List[float]:
    """Normalised (cx, cy, w, h) -> absolute (x1, y1, x2, y2) in an image of (h, w)."""
    cx, cy, w, h = box
    img_h, img_w = img_shape
    return [(cx - w / 2) * img_w, (cy - h / 2) * img_h, (cx + w / 2) * img_w,
            (cy + h / 2) * img_h]


def giou(a: Sequence[float], b: Sequence[float]) -> float:
    """Generalised IoU of two (x1, y1, x2, y2) boxes."""
    def area(box):
        return max(box[2] - box[0], 0) * max(box[3] - box[1], 0)

    inter = (max(min(a[2], b[2]) - max(a[0], b[0]), 0) *
             max(min(a[3], b[3]) - max(a[1], b[1]), 0))
    union = area(a) + area(b) - inter
    hull = (max(a[2], b[2]) - min(a[0], b[0])) * (max(a[3], b[3]) - min(a[1], b[1]))
    return inter / union - (hull - union) / hull


def l1(a: Sequence[float], b: Sequence[float]) -> float:
    return sum(abs(x - y) for x, y in zip(a, b))


def eq10_cost(student_logits: List[List[float]], student_boxes: List[List[float]],
              target_probs: List[List[float]], target_boxes: List[List[float]],
              target_conf: List[float], head: str, temperature: float,
              img_shape: Tuple[int, int], weights: Dict[str, float]) -> List[List[float]]:
    """Eq. 10 cost[i][j] of student i and target j. L1 on normalised cxcywh, GIoU on
    absolute xyxy (as mmdet's DETR), both with the DETR weights in ``weights``."""
    cost = []
    for z, sb in zip(student_logits, student_boxes):
        row = []
        for p, tb, c in zip(target_probs, target_boxes, target_conf):
            row.append(weights['kl'] * kl(p, z, head, temperature) +
                       weights['l1'] * l1(sb, tb) -
                       weights['giou'] * giou(cxcywh_to_xyxy(sb, img_shape),
                                              cxcywh_to_xyxy(tb, img_shape)) -
                       weights['conf'] * c)
        cost.append(row)
    return cost


def prob_cost(student_logits: List[List[float]], student_boxes: List[List[float]],
              target_labels: List[int], target_boxes: List[List[float]], head: str,
              img_shape: Tuple[int, int], weights: Dict[str, float]) -> List[List[float]]:
    """The authors' code's cost[i][j]: DETR's ground-truth matching cost on the teacher's
    argmax label. softmax: −cls · p̂_i[label_j]; sigmoid: cls · (focal(p̂, 1) − focal(p̂, 0))
    at the label, the focal cost of mmdet's Conditional DETR (α 0.25, γ 2). Box terms as in
    :func:`eq10_cost`."""
    cost = []
    for z, sb in zip(student_logits, student_boxes):
        row = []
        for label, tb in zip(target_labels, target_boxes):
            if head == 'softmax':
                cls = -softmax(z)[label]
            else:
                p = sigmoid(z[label])
                pos = -math.log(p + 1e-12) * 0.25 * (1 - p)**2
                neg = -math.log(1 - p + 1e-12) * 0.75 * p**2
                cls = pos - neg
            row.append(weights['cls'] * cls + weights['l1'] * l1(sb, tb) -
                       weights['giou'] * giou(cxcywh_to_xyxy(sb, img_shape),
                                              cxcywh_to_xyxy(tb, img_shape)))
        cost.append(row)
    return cost


def brute_force_match(cost: List[List[float]]) -> Tuple[float, Dict[int, int]]:
    """Minimum-cost one-to-one matching by enumerating every assignment.

    With m students and k targets, min(m, k) pairs are matched. Returns the minimal total
    and the matching as {student: target}.
    """
    m, k = len(cost), len(cost[0]) if cost else 0
    best_total, best = math.inf, {}
    if k <= m:  # every target gets a distinct student
        for students in itertools.permutations(range(m), k):
            total = sum(cost[i][j] for j, i in enumerate(students))
            if total < best_total:
                best_total, best = total, {i: j for j, i in enumerate(students)}
    else:  # every student gets a distinct target
        for chosen in itertools.permutations(range(k), m):
            total = sum(cost[i][j] for i, j in enumerate(chosen))
            if total < best_total:
                best_total, best = total, dict(enumerate(chosen))
    return best_total, best

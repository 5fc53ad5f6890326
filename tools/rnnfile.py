#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Reader and writer of gst-rnn model files (.rnn, version 1), independent of the C engine.

Implements docs/model-format.md byte for byte: the 80-byte header, typed metadata (the architecture
is stored as `arch.*` keys), the tensor directory, 64-byte aligned float32 tensor data and the
trailing CRC-32. `read`/`loads` check every rule of the spec and raise FormatError with a message
naming the file and the problem; `write`/`dumps` produce the layout the spec prescribes for writers
(and check the result by reading it back, so they never produce a file a reader would reject).
With meta["input.normalization"] = "raw+sequence", layer 0's w_ih has 2 x input_size columns (the
raw frame, then its per-sequence normalisation) and the model may not have norm.mean/norm.scale.
A grouped head (`head_groups` = g > 1, stored as `arch.head.groups`) is g heads side by side, head j
reading only group j of the top layer (which must have g groups): head.w is [O][D/g], and `labels`
or `alphabet` name one head's O/g outputs.

    import rnnfile
    m = rnnfile.Model(input_size=40)
    m.add_layer("lstm", 128)
    m.set_head("softmax", 10)
    m.init_zeros()                     # or assign m.tensors[name] = numpy arrays
    m.meta["labels"] = [...]
    rnnfile.write(m, "out.rnn")        # atomic: temporary file, fsync, rename

Command line: `rnnfile.py FILE...` checks each file and prints a summary; exit 1 if any is invalid.
"""

import os
import re
import struct
import sys
import tempfile
import zlib

import numpy as np

MAGIC = b"\x89RNN\r\n\x1a\n"
VERSION = 1
HEADER_SIZE = 80
ALIGN = 64

META_STRING, META_INT, META_FLOAT, META_STRINGS = 1, 2, 3, 4
META_TYPE_NAMES = {META_STRING: "string", META_INT: "int", META_FLOAT: "float", META_STRINGS: "strings"}

DTYPE_F32 = 0
DTYPE_NAMES = {0: "f32", 1: "f16", 2: "bf16", 3: "q8_row"}

MAX_META = 65536
MIN_TENSORS, MAX_TENSORS = 1, 134
MAX_KEY = 256
MAX_STRING = 16 * 1024 * 1024
MAX_STRINGS = 16777216
MAX_TENSOR_NAME = 31
MAX_LAYERS = 16
MAX_SIZE = 65536

CELLS = ("rnn_tanh", "rnn_relu", "lstm", "gru", "gru_reset_before")
GATES = {"rnn_tanh": 1, "rnn_relu": 1, "lstm": 4, "gru": 3, "gru_reset_before": 3}
HEADS = ("none", "linear", "sigmoid", "softmax")
POOLS = ("last", "mean")

# Metadata key of the input normalisation mode (docs/model-format.md). Only "raw+sequence" changes
# the file's shapes: layer 0 then reads [x, seqnorm(x)], 2 x arch.input_size columns, and the model
# stores no norm.mean/norm.scale (folded into layer 0). Other values are the engine's business: it
# refuses unknown ones; this module reads and writes them as they are, so that tests can make such
# files.
INPUT_NORMALIZATION_KEY = "input.normalization"
RAW_AND_SEQUENCE = "raw+sequence"

# Optional architecture key of a grouped head (absent = 1), written only when > 1.
HEAD_GROUPS_KEY = "arch.head.groups"

_TENSOR_NAME_RE = re.compile(rb"^[a-z0-9._]+$")


class FormatError(ValueError):
    """A model file (or a model about to be written) breaks a rule of docs/model-format.md."""


class Layer:
    """One recurrent layer. groups > 1: a grouped layer (engine/rnn.h): H units in `groups` groups of
    H/groups; w_hh is [G*H][H/groups] (each row's own group's units) and, above layer 0, w_ih is
    [G*H][D_below/groups] (the row's group's slice of the layer below: [fwd units, bwd units])."""

    def __init__(self, cell, hidden, bidirectional=False, groups=1):
        self.cell = cell
        self.hidden = int(hidden)
        self.bidirectional = bool(bidirectional)
        self.groups = int(groups)

    @property
    def gates(self):
        return GATES[self.cell]

    @property
    def output_size(self):
        return self.hidden * (2 if self.bidirectional else 1)

    def __repr__(self):
        return "Layer(%r, %d%s%s)" % (self.cell, self.hidden, ", bidirectional" if self.bidirectional else "",
                                      ", groups=%d" % self.groups if self.groups > 1 else "")


class Model:
    """Architecture, float32 tensors by name, optional normalisation and ordered user metadata.

    meta values: str (string), int or bool (int), float (float), list/tuple of str (strings).
    """

    def __init__(self, input_size, layers=None, head="none", outputs=None, pool="last", head_groups=1):
        self.input_size = int(input_size)
        self.layers = list(layers or [])
        self.head = head
        self._outputs = outputs
        self.pool = pool
        # g > 1: a grouped head (engine/rnn.h rnn_model_set_head_groups): g heads of O/g outputs
        # each, head j reading only group j of the top layer's output; the activation per head.
        self.head_groups = int(head_groups)
        self.tensors = {}
        self.norm_mean = None
        self.norm_scale = None
        self.meta = {}

    def add_layer(self, cell, hidden, bidirectional=False, groups=1):
        self.layers.append(Layer(cell, hidden, bidirectional, groups))
        return self

    def set_head(self, head, outputs=None, pool="last", groups=1):
        self.head = head
        self._outputs = outputs
        self.pool = pool
        self.head_groups = int(groups)
        return self

    @property
    def top_size(self):
        return self.layers[-1].output_size

    @property
    def outputs(self):
        if self.head == "none":
            return self.top_size
        return self._outputs

    @property
    def outputs_per_head(self):
        """What `labels` or `alphabet` name: one head's outputs (all of them for a dense head)."""
        return self.outputs // max(self.head_groups, 1)

    @property
    def reads_raw_and_sequence(self):
        """Whether layer 0 reads the raw and the per-sequence normalised frame side by side."""
        return self.meta.get(INPUT_NORMALIZATION_KEY) == RAW_AND_SEQUENCE

    def layer_input_size(self, n):
        if n > 0:
            return self.layers[n - 1].output_size
        return 2 * self.input_size if self.reads_raw_and_sequence else self.input_size

    def tensor_shapes(self):
        """The tensors the architecture needs, in the order writers store them."""
        shapes = []
        for n, layer in enumerate(self.layers):
            gh, g = layer.gates * layer.hidden, max(layer.groups, 1)
            ih_cols = self.layer_input_size(n) // (g if n > 0 else 1)
            for d in ("fwd", "bwd") if layer.bidirectional else ("fwd",):
                p = "layer%d.%s." % (n, d)
                shapes += [(p + "w_ih", (gh, ih_cols)), (p + "w_hh", (gh, layer.hidden // g)),
                           (p + "b_ih", (gh,)), (p + "b_hh", (gh,))]
        if self.head != "none":  # a grouped head's rows read their group's slice of the top output
            shapes += [("head.w", (self.outputs, self.top_size // max(self.head_groups, 1))),
                       ("head.b", (self.outputs,))]
        return shapes

    def num_params(self):
        return sum(int(np.prod(s)) for _, s in self.tensor_shapes())

    def init_zeros(self):
        for name, shape in self.tensor_shapes():
            self.tensors[name] = np.zeros(shape, dtype=np.float32)
        return self

    def set_normalization(self, mean, scale):
        if mean is None and scale is None:
            self.norm_mean = self.norm_scale = None
            return self
        self.norm_mean = np.asarray(mean, dtype=np.float32).reshape(-1)
        self.norm_scale = np.asarray(scale, dtype=np.float32).reshape(-1)
        return self

    def __repr__(self):
        return "Model(input_size=%d, layers=%r, head=%r, outputs=%r, pool=%r%s)" % (
            self.input_size, self.layers, self.head, self.outputs, self.pool,
            ", head_groups=%d" % self.head_groups if self.head_groups != 1 else "")


def crc32(data):
    return zlib.crc32(data) & 0xFFFFFFFF


def _align(n):
    return (n + ALIGN - 1) // ALIGN * ALIGN


# ------------------------------------------------------------------------------------------------
# Writing
# ------------------------------------------------------------------------------------------------
def _enc_string(s, what):
    b = s.encode("utf-8") if isinstance(s, str) else bytes(s)
    if b"\0" in b:
        raise FormatError("%s contains a NUL byte" % what)
    if len(b) > MAX_STRING:
        raise FormatError("%s is %d bytes, more than the %d allowed" % (what, len(b), MAX_STRING))
    return struct.pack("<I", len(b)) + b


def _enc_meta(key, value):
    kb = key.encode("utf-8") if isinstance(key, str) else bytes(key)
    if not 1 <= len(kb) <= MAX_KEY or any(c < 0x20 or c == 0x7F for c in kb):
        raise FormatError("metadata key %r must be 1..%d bytes of UTF-8 without control characters"
                          % (key, MAX_KEY))
    out = struct.pack("<I", len(kb)) + kb
    if isinstance(value, (bool, np.bool_)):
        return out + struct.pack("<Iq", META_INT, int(value))
    if isinstance(value, (int, np.integer)):
        if not -2**63 <= int(value) < 2**63:
            raise FormatError("metadata '%s': %d does not fit an i64" % (key, value))
        return out + struct.pack("<Iq", META_INT, int(value))
    if isinstance(value, (float, np.floating)):
        return out + struct.pack("<Id", META_FLOAT, float(value))
    if isinstance(value, str):
        return out + struct.pack("<I", META_STRING) + _enc_string(value, "metadata '%s'" % key)
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        if len(value) > MAX_STRINGS:
            raise FormatError("metadata '%s' has %d strings, more than %d" % (key, len(value), MAX_STRINGS))
        parts = [out, struct.pack("<II", META_STRINGS, len(value))]
        parts += [_enc_string(v, "metadata '%s' item %d" % (key, i)) for i, v in enumerate(value)]
        return b"".join(parts)
    raise FormatError("metadata '%s': cannot store a %s (use str, int, float or a list of str)"
                      % (key, type(value).__name__))


def _arch_meta(m):
    items = [("arch.input_size", int(m.input_size)), ("arch.layers", len(m.layers))]
    for n, layer in enumerate(m.layers):
        items += [("arch.layer.%d.cell" % n, layer.cell), ("arch.layer.%d.hidden" % n, int(layer.hidden)),
                  ("arch.layer.%d.bidirectional" % n, 1 if layer.bidirectional else 0)]
        if layer.groups > 1:  # only then: files of dense models stay as they were
            items.append(("arch.layer.%d.groups" % n, int(layer.groups)))
    items += [("arch.head", m.head), ("arch.outputs", int(m.outputs)), ("arch.pool", m.pool)]
    if m.head_groups > 1:  # only then, after arch.pool (as engine/format.c writes it)
        items.append((HEAD_GROUPS_KEY, int(m.head_groups)))
    return items


def _head_groups_problem(head, outputs, top_groups, top_layer, groups):
    """Why a grouped head of `groups` heads does not fit the rest of the architecture, or None."""
    if groups == 1:
        return None
    if groups < 1:
        return "'%s' is %d, it must be at least 1" % (HEAD_GROUPS_KEY, groups)
    if head == "none":
        return "'%s' is %d, but 'arch.head' is 'none': there is no head to group" % (HEAD_GROUPS_KEY, groups)
    if outputs % groups:
        return "'%s' is %d, which does not divide 'arch.outputs' %d" % (HEAD_GROUPS_KEY, groups, outputs)
    if top_groups != groups:
        return ("'%s' is %d, but the top layer has %d groups ('arch.layer.%d.groups'): a grouped head needs "
                "the top layer grouped the same way" % (HEAD_GROUPS_KEY, groups, top_groups, top_layer))
    return None


def dumps(m):
    """Serialises a Model to bytes (the writer's layout of the spec); raises FormatError."""
    if not m.layers:
        raise FormatError("the model has no layers")
    if m.head != "none" and m.outputs is None:
        raise FormatError("head '%s' needs an output count" % m.head)
    for n, layer in enumerate(m.layers):
        if layer.groups < 1 or layer.hidden % layer.groups:
            raise FormatError("'arch.layer.%d.groups' is %d, which does not divide the layer's hidden size %d"
                              % (n, layer.groups, layer.hidden))
    problem = _head_groups_problem(m.head, m.outputs, m.layers[-1].groups, len(m.layers) - 1, m.head_groups)
    if problem:
        raise FormatError(problem)
    tensors = []
    for name, shape in m.tensor_shapes():
        if name not in m.tensors:
            raise FormatError("tensor '%s' is missing" % name)
        a = np.asarray(m.tensors[name])
        if tuple(a.shape) != tuple(shape):
            raise FormatError("tensor '%s' has shape %s, the architecture needs %s"
                              % (name, "x".join(map(str, a.shape)), "x".join(map(str, shape))))
        tensors.append((name, a))
    extra = set(m.tensors) - {n for n, _ in tensors}
    if extra:
        raise FormatError("tensors %s are not part of the architecture" % sorted(extra))
    if (m.norm_mean is None) != (m.norm_scale is None):
        raise FormatError("normalisation needs both mean and scale")
    if m.norm_mean is not None:
        for name, v in (("norm.mean", m.norm_mean), ("norm.scale", m.norm_scale)):
            v = np.asarray(v).reshape(-1)
            if v.shape[0] != m.input_size:
                raise FormatError("%s has %d values, the input size is %d" % (name, v.shape[0], m.input_size))
            tensors.append((name, v))

    meta = _arch_meta(m) + [(k, v) for k, v in m.meta.items() if not k.startswith("arch.")]
    meta_bytes = b"".join(_enc_meta(k, v) for k, v in meta)

    directory, data, offset = [], [], 0
    for name, a in tensors:
        raw = np.ascontiguousarray(a, dtype="<f4").tobytes()
        if offset % ALIGN:
            pad = _align(offset) - offset
            data.append(b"\0" * pad)
            offset += pad
        entry = _enc_string(name, "tensor name") + struct.pack("<II", DTYPE_F32, a.ndim)
        entry += b"".join(struct.pack("<Q", d) for d in a.shape)
        entry += struct.pack("<QQ", offset, len(raw))
        directory.append(entry)
        data.append(raw)
        offset += len(raw)
    dir_bytes = b"".join(directory)
    data_bytes = b"".join(data)

    meta_offset = HEADER_SIZE
    dir_offset = meta_offset + len(meta_bytes)
    data_offset = _align(dir_offset + len(dir_bytes))
    file_size = data_offset + len(data_bytes) + 4
    header = MAGIC + struct.pack("<IIQIIQQQQQQ", VERSION, HEADER_SIZE, file_size, len(meta), len(tensors),
                                 meta_offset, len(meta_bytes), dir_offset, len(dir_bytes), data_offset,
                                 len(data_bytes))
    assert len(header) == HEADER_SIZE
    body = header + meta_bytes + dir_bytes + b"\0" * (data_offset - dir_offset - len(dir_bytes)) + data_bytes
    blob = body + struct.pack("<I", crc32(body))
    loads(blob, "<model being written>")  # never write what a reader rejects
    return blob


def write(m, path):
    """Atomic save: PATH.tmp.XXXXXX in the same folder, fsync, rename over PATH."""
    blob = dumps(m)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=os.path.basename(path) + ".tmp.", dir=folder)
    try:
        # mkstemp makes the file 0600; keep the mode of the file being replaced, else an ordinary
        # 0644, as engine/format.c does, so a model is readable like any file.
        try:
            mode = os.stat(path).st_mode & 0o7777
        except FileNotFoundError:
            mode = 0o644
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(blob)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


# ------------------------------------------------------------------------------------------------
# Reading
# ------------------------------------------------------------------------------------------------
class _Cursor:
    """Reads a section; every length is compared with the bytes left before it is used."""

    def __init__(self, buf, start, end, fail, section):
        self.buf, self.pos, self.end, self.fail, self.section = buf, start, end, fail, section

    def left(self):
        return self.end - self.pos

    def take(self, n, what):
        if n > self.left():
            self.fail("%s: %s needs %d bytes, only %d left in the %s" % (self.section, what, n, self.left(),
                                                                          self.section))
        b = self.buf[self.pos:self.pos + n]
        self.pos += n
        return b

    def u32(self, what):
        return struct.unpack("<I", self.take(4, what))[0]

    def u64(self, what):
        return struct.unpack("<Q", self.take(8, what))[0]

    def i64(self, what):
        return struct.unpack("<q", self.take(8, what))[0]

    def f64(self, what):
        return struct.unpack("<d", self.take(8, what))[0]

    def string(self, what, max_len=MAX_STRING):
        n = self.u32(what + " length")
        if n > max_len:
            self.fail("%s is %d bytes long, more than the %d allowed" % (what, n, max_len))
        b = self.take(n, what)
        if b"\0" in b:
            self.fail("%s contains a NUL byte" % what)
        try:
            return b.decode("utf-8")  # strict: rejects overlong forms, surrogates, > U+10FFFF
        except UnicodeDecodeError as e:
            self.fail("%s is not valid UTF-8 (byte %d)" % (what, e.start))


def read(path):
    with open(path, "rb") as f:
        return loads(f.read(), path)


def loads(buf, name="<memory>"):
    """Parses and validates a model file's bytes; raises FormatError naming `name` and the problem."""
    buf = bytes(buf)

    def fail(msg):
        raise FormatError("%s: %s" % (name, msg))

    # 1. Header, sizes.
    if len(buf) < HEADER_SIZE + 4:
        fail("%d bytes is too short for a model file (at least %d)" % (len(buf), HEADER_SIZE + 4))
    if buf[:8] != MAGIC:
        fail("not a model file (bad magic)")
    (version, header_size, file_size, meta_count, tensor_count, meta_offset, meta_size, dir_offset,
     dir_size, data_offset, data_size) = struct.unpack_from("<IIQIIQQQQQQ", buf, 8)
    if version != VERSION:
        if version > VERSION:
            fail("version %d is newer than this reader (%d)" % (version, VERSION))
        fail("version %d is not supported (this reader reads %d)" % (version, VERSION))
    if header_size != HEADER_SIZE:
        fail("header_size is %d, expected %d" % (header_size, HEADER_SIZE))
    if file_size != len(buf):
        fail("header says %d bytes, the file has %d (truncated or extended)" % (file_size, len(buf)))

    # 2. Checksum before structure, so random damage reads as damage.
    stored = struct.unpack_from("<I", buf, len(buf) - 4)[0]
    computed = crc32(buf[:-4])
    if stored != computed:
        fail("checksum mismatch (stored 0x%08x, computed 0x%08x): the file is damaged" % (stored, computed))

    # 3. Sections, each compared with what remains before any addition.
    if meta_count > MAX_META:
        fail("meta_count %d is more than %d" % (meta_count, MAX_META))
    if not MIN_TENSORS <= tensor_count <= MAX_TENSORS:
        fail("tensor_count %d is outside %d..%d" % (tensor_count, MIN_TENSORS, MAX_TENSORS))
    body_end = len(buf) - 4
    if meta_offset != HEADER_SIZE:
        fail("meta_offset is %d, expected %d" % (meta_offset, HEADER_SIZE))
    if meta_size > body_end - meta_offset:
        fail("metadata section (%d bytes) runs past the end of the file" % meta_size)
    if dir_offset != meta_offset + meta_size:
        fail("dir_offset is %d, expected %d (meta_offset + meta_size)" % (dir_offset, meta_offset + meta_size))
    if dir_size > body_end - dir_offset:
        fail("tensor directory (%d bytes) runs past the end of the file" % dir_size)
    expected_data = _align(dir_offset + dir_size)
    if data_offset != expected_data:
        fail("data_offset is %d, expected %d (dir end rounded up to 64)" % (data_offset, expected_data))
    if data_offset > body_end:
        fail("data_offset %d is past the end of the file" % data_offset)
    if any(buf[dir_offset + dir_size:data_offset]):
        fail("padding before the tensor data is not zero")
    if data_size != body_end - data_offset:
        fail("data_size is %d, the file leaves %d bytes for tensor data" % (data_size, body_end - data_offset))

    # 4. Metadata.
    cur = _Cursor(buf, meta_offset, dir_offset, fail, "metadata section")
    entries = []
    seen = set()
    for i in range(meta_count):
        key = cur.string("metadata entry %d key" % i, MAX_KEY)
        kb = key.encode("utf-8")
        if not kb or any(c < 0x20 or c == 0x7F for c in kb):
            fail("metadata entry %d key %r must be 1..%d bytes of UTF-8 without control characters"
                 % (i, key, MAX_KEY))
        if key in seen:
            fail("metadata key '%s' appears twice" % key)
        seen.add(key)
        t = cur.u32("metadata '%s' type" % key)
        if t == META_STRING:
            v = cur.string("metadata '%s'" % key)
        elif t == META_INT:
            v = cur.i64("metadata '%s'" % key)
        elif t == META_FLOAT:
            v = cur.f64("metadata '%s'" % key)
        elif t == META_STRINGS:
            n = cur.u32("metadata '%s' count" % key)
            if n > MAX_STRINGS:
                fail("metadata '%s' has %d strings, more than %d" % (key, n, MAX_STRINGS))
            if n * 4 > cur.left():
                fail("metadata '%s' has %d strings, more than the section can hold" % (key, n))
            v = [cur.string("metadata '%s' item %d" % (key, j)) for j in range(n)]
        else:
            fail("metadata '%s' has unknown type %d" % (key, t))
        entries.append((key, t, v))
    if cur.left() != 0:
        fail("metadata section has %d bytes after its %d entries" % (cur.left(), meta_count))

    # 5a. Architecture.
    arch = {k: (t, v) for k, t, v in entries if k.startswith("arch.")}
    used = set()

    def get(key, typ):
        if key not in arch:
            fail("architecture key '%s' is missing" % key)
        t, v = arch[key]
        if t != typ:
            fail("architecture key '%s' has type %s, expected %s" % (key, META_TYPE_NAMES[t], META_TYPE_NAMES[typ]))
        used.add(key)
        return v

    def get_int(key, lo, hi):
        v = get(key, META_INT)
        if not lo <= v <= hi:
            fail("'%s' is %d, outside %d..%d" % (key, v, lo, hi))
        return v

    def get_name(key, names):
        v = get(key, META_STRING)
        if v not in names:
            fail("'%s' is '%s', expected one of %s" % (key, v, ", ".join(names)))
        return v

    m = Model(get_int("arch.input_size", 1, MAX_SIZE))
    n_layers = get_int("arch.layers", 1, MAX_LAYERS)
    for n in range(n_layers):
        m.add_layer(get_name("arch.layer.%d.cell" % n, CELLS), get_int("arch.layer.%d.hidden" % n, 1, MAX_SIZE),
                    get_int("arch.layer.%d.bidirectional" % n, 0, 1))
        # Grouped layers: optional, divides the hidden size, the same as the layer below's when
        # either is grouped (the head is dense unless arch.head.groups, below).
        key, layer = "arch.layer.%d.groups" % n, m.layers[n]
        if key in arch:
            layer.groups = get_int(key, 1, layer.hidden)
            if layer.hidden % layer.groups:
                fail("'%s' is %d, which does not divide the layer's hidden size %d" % (key, layer.groups, layer.hidden))
        below = m.layers[n - 1].groups if n > 0 else layer.groups
        if (layer.groups > 1 or below > 1) and layer.groups != below:
            fail("'%s' is %d, but the layer below has %d groups: a layer above a grouped layer must have the "
                 "same groups" % (key, layer.groups, below))
    head = get_name("arch.head", HEADS)
    outputs = get_int("arch.outputs", 1, MAX_SIZE if head != "none" else 2 * MAX_SIZE)
    if head == "none" and outputs != m.top_size:
        fail("'arch.outputs' is %d, but without a head the output is the top layer's %d" % (outputs, m.top_size))
    m.set_head(head, outputs, get_name("arch.pool", POOLS))
    # Grouped head: optional, needs a head, divides the outputs, the top layer grouped the same way.
    if HEAD_GROUPS_KEY in arch:
        m.head_groups = get_int(HEAD_GROUPS_KEY, 1, MAX_SIZE)
        problem = _head_groups_problem(head, outputs, m.layers[-1].groups, n_layers - 1, m.head_groups)
        if problem:
            fail(problem)
    for key in arch:
        if key not in used:
            fail("unknown architecture key '%s'" % key)

    # The user metadata, in file order (its well-known keys are checked in step 6): the input
    # normalisation mode decides layer 0's shapes.
    m.meta = {k: v for k, t, v in entries if not k.startswith("arch.")}

    # 5b. Tensor directory.
    cur = _Cursor(buf, dir_offset, dir_offset + dir_size, fail, "tensor directory")
    directory = []
    names = set()
    for i in range(tensor_count):
        tname = cur.string("tensor %d name" % i, MAX_TENSOR_NAME)
        if not tname or not _TENSOR_NAME_RE.match(tname.encode("utf-8")):
            fail("tensor %d name %r must be 1..%d characters of [a-z0-9._]" % (i, tname, MAX_TENSOR_NAME))
        if tname in names:
            fail("tensor '%s' appears twice" % tname)
        names.add(tname)
        dtype = cur.u32("tensor '%s' dtype" % tname)
        if dtype != DTYPE_F32:
            if dtype in DTYPE_NAMES:
                fail("tensor '%s': dtype %s is not supported" % (tname, DTYPE_NAMES[dtype]))
            fail("tensor '%s' has unknown dtype %d" % (tname, dtype))
        ndim = cur.u32("tensor '%s' ndim" % tname)
        if ndim not in (1, 2):
            fail("tensor '%s' has %d dimensions, expected 1 or 2" % (tname, ndim))
        dims = tuple(cur.u64("tensor '%s' dims" % tname) for _ in range(ndim))
        for d in dims:
            if not 1 <= d <= 2**32:
                fail("tensor '%s' has dimension %d, outside 1..2^32" % (tname, d))
        offset = cur.u64("tensor '%s' offset" % tname)
        size = cur.u64("tensor '%s' size" % tname)
        if offset % ALIGN:
            fail("tensor '%s' offset %d is not a multiple of %d" % (tname, offset, ALIGN))
        need = 4 * int(np.prod(dims, dtype=object))
        if size != need:
            fail("tensor '%s' is %d bytes, its shape %s needs %d" % (tname, size, "x".join(map(str, dims)), need))
        if offset > data_size or size > data_size - offset:
            fail("tensor '%s' (offset %d, %d bytes) runs past the tensor data (%d bytes)"
                 % (tname, offset, size, data_size))
        directory.append((tname, dims, offset, size))
    if cur.left() != 0:
        fail("tensor directory has %d bytes after its %d entries" % (cur.left(), tensor_count))

    # Shapes against the architecture: exactly these tensors, no others.
    required = dict(m.tensor_shapes())
    found = {t[0]: t for t in directory}
    for tname, shape in required.items():
        if tname not in found:
            fail("tensor '%s' is missing" % tname)
        if found[tname][1] != shape:
            fail("tensor '%s' has shape %s, the architecture needs %s"
                 % (tname, "x".join(map(str, found[tname][1])), "x".join(map(str, shape))))
    has_mean, has_scale = "norm.mean" in found, "norm.scale" in found
    if (has_mean or has_scale) and m.reads_raw_and_sequence:
        fail("tensor '%s' with '%s' = '%s': such a model keeps its normalisation folded into layer 0"
             % ("norm.mean" if has_mean else "norm.scale", INPUT_NORMALIZATION_KEY, RAW_AND_SEQUENCE))
    if has_mean != has_scale:
        fail("tensor '%s' is present without '%s'" % (("norm.mean", "norm.scale") if has_mean
                                                       else ("norm.scale", "norm.mean")))
    for tname in ("norm.mean", "norm.scale"):
        if tname in found and found[tname][1] != (m.input_size,):
            fail("tensor '%s' has shape %s, the architecture needs %d"
                 % (tname, "x".join(map(str, found[tname][1])), m.input_size))
    for tname in found:
        if tname not in required and tname not in ("norm.mean", "norm.scale"):
            fail("tensor '%s' is not part of the architecture" % tname)
    spans = sorted((t[2], t[2] + t[3], t[0]) for t in directory)
    for (s0, e0, n0), (s1, e1, n1) in zip(spans, spans[1:]):
        if s1 < e0:
            fail("tensors '%s' and '%s' overlap" % (n0, n1))

    for tname, dims, offset, size in directory:
        a = np.frombuffer(buf, dtype="<f4", count=size // 4, offset=data_offset + offset)
        a = a.astype(np.float32).reshape(dims)
        if tname == "norm.mean":
            m.norm_mean = a
        elif tname == "norm.scale":
            m.norm_scale = a
        else:
            m.tensors[tname] = a

    # 6. User metadata and the well-known keys' types.
    for key, t, v in entries:
        if key.startswith("arch."):
            continue
        if key == "task" and t != META_STRING:
            fail("metadata 'task' has type %s, expected string" % META_TYPE_NAMES[t])
        if key in ("labels", "alphabet"):
            if t != META_STRINGS:
                fail("metadata '%s' has type %s, expected strings" % (key, META_TYPE_NAMES[t]))
            if len(v) != m.outputs_per_head:
                if m.head_groups > 1:
                    fail("metadata '%s' has %d entries, the model's %d heads have %d outputs each"
                         % (key, len(v), m.head_groups, m.outputs_per_head))
                fail("metadata '%s' has %d entries, the model has %d outputs" % (key, len(v), m.outputs))
        m.meta[key] = v
    return m


def _summary(m):
    lines = [repr(m), "  parameters: %d" % m.num_params(),
             "  normalisation: %s" % ("yes" if m.norm_mean is not None else "none")]
    for k, v in m.meta.items():
        lines.append("  %s = %r" % (k, v))
    return "\n".join(lines)


def main(argv):
    if len(argv) < 2 or argv[1] in ("-h", "--help"):
        print("usage: rnnfile.py FILE...   check .rnn files against docs/model-format.md")
        return 0 if len(argv) >= 2 else 2
    status = 0
    for path in argv[1:]:
        try:
            print("%s: ok\n%s" % (path, _summary(read(path))))
        except (OSError, FormatError) as e:
            print("rnnfile.py: %s" % (e if isinstance(e, FormatError) else "%s: %s" % (path, e.strerror)),
                  file=sys.stderr)
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv))

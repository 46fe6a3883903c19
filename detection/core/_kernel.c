/*
 * detection.core._kernel: the cusum method's per-key recursion, compiled.
 *
 * One CusumState per key holds the four statistics and the coefficients of their recursions
 * as plain doubles, so an event updates them without creating a single Python object (in pure
 * Python each statistic is a float object of its own, scattered over the heap: with 10k keys
 * the reads of those objects, not the arithmetic, were the cost).
 *
 * The arithmetic is the same as detection.core.cusum.CusumReference's and PyCusumState's, in
 * the same order, so the results are bit for bit equal. That needs the compiler not to fuse
 * a multiply and an add into one FMA (one rounding instead of two): build with
 * -ffp-contract=off (scripts/build_native does; tests compare both implementations).
 *
 * No I/O, no global state. Built by `make native` (part of `make setup`); if it is absent,
 * detection.core.kernel falls back to PyCusumState (same results, slower).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

typedef struct {
    PyObject_HEAD
    double mean;   /* baseline mean */
    double inv;    /* 1 / baseline std */
    double ma, mb, ua, ub, da, db;
    double h[4];   /* decision thresholds */
    double cap[4]; /* CAP_FACTOR * h: the statistics' ceiling while drifting */
    double s[4];   /* mean_up, mean_down, std_up, std_down */
} CusumState;

static double cap_factor = 1.5; /* set from detection.core.cusum.CAP_FACTOR at import */

/* The interface version: detection.core.kernel uses this library only if it expects the same
 * number, so a library built from an older _kernel.c (not rebuilt after an update) is never
 * called with an interface it lacks. Bump it with any change of the methods or their meaning. */
#define KERNEL_VERSION 1

/* One event: update the four statistics; return whether any is above its threshold.
 * "!(s >= 0.0)" clamps NaN (0 * inf, from an absurd value against a floored std) to 0, as
 * the reference's max(0.0, s) does. When capped (the key is DRIFTING), a statistic above its
 * ceiling is set to it after the comparison (the ceiling is above the threshold). */
static inline int
cusum_step(CusumState *self, double x, int capped)
{
    double u = (x - self->mean) * self->inv;
    double a = self->ma * u;
    double s1 = self->s[0] + a - self->mb;
    double s2 = self->s[1] - a - self->mb;
    double uu = u * u;
    double s3 = self->s[2] + self->ua * uu - self->ub;
    double s4 = self->s[3] + self->da * uu - self->db;
    if (!(s1 >= 0.0)) s1 = 0.0;
    if (!(s2 >= 0.0)) s2 = 0.0;
    if (!(s3 >= 0.0)) s3 = 0.0;
    if (!(s4 >= 0.0)) s4 = 0.0;
    int hit = (s1 > self->h[0]) | (s2 > self->h[1]) | (s3 > self->h[2]) | (s4 > self->h[3]);
    if (capped && hit) {
        if (s1 > self->cap[0]) s1 = self->cap[0];
        if (s2 > self->cap[1]) s2 = self->cap[1];
        if (s3 > self->cap[2]) s3 = self->cap[2];
        if (s4 > self->cap[3]) s4 = self->cap[3];
    }
    self->s[0] = s1;
    self->s[1] = s2;
    self->s[2] = s3;
    self->s[3] = s4;
    return hit;
}

static PyObject *
to_bool_result(CusumState *self, PyObject *arg, int capped)
{
    double x = PyFloat_AsDouble(arg);
    if (x == -1.0 && PyErr_Occurred())
        return NULL;
    if (cusum_step(self, x, capped))
        Py_RETURN_TRUE;
    Py_RETURN_FALSE;
}

static PyObject *
CusumState_step(CusumState *self, PyObject *arg)
{
    return to_bool_result(self, arg, 0);
}

static PyObject *
CusumState_step_capped(CusumState *self, PyObject *arg)
{
    return to_bool_result(self, arg, 1);
}

static PyObject *
CusumState_reset(CusumState *self, PyObject *Py_UNUSED(ignored))
{
    self->s[0] = self->s[1] = self->s[2] = self->s[3] = 0.0;
    Py_RETURN_NONE;
}

/* Read exactly n floats (ints accepted) from a sequence into out. */
static int
read_doubles(PyObject *seq, double *out, Py_ssize_t n, const char *what)
{
    PyObject *fast = PySequence_Fast(seq, what);
    if (fast == NULL)
        return -1;
    if (PySequence_Fast_GET_SIZE(fast) != n) {
        PyErr_Format(PyExc_ValueError, "%s: expected %zd numbers, got %zd", what, n,
                     PySequence_Fast_GET_SIZE(fast));
        Py_DECREF(fast);
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        double v = PyFloat_AsDouble(PySequence_Fast_GET_ITEM(fast, i));
        if (v == -1.0 && PyErr_Occurred()) {
            Py_DECREF(fast);
            return -1;
        }
        out[i] = v;
    }
    Py_DECREF(fast);
    return 0;
}

/* configure(coefficients, mean, inv): the 10 numbers of cusum.CusumParams.coefficients
 * (mean_a, mean_b, up_a, up_b, down_a, down_b, h1..h4), the baseline mean and 1/std.
 * The statistics are kept. */
static PyObject *
CusumState_configure(CusumState *self, PyObject *const *args, Py_ssize_t nargs)
{
    double c[10], mean, inv;
    if (nargs != 3) {
        PyErr_Format(PyExc_TypeError, "configure() takes 3 arguments (%zd given)", nargs);
        return NULL;
    }
    if (read_doubles(args[0], c, 10, "configure() coefficients") < 0)
        return NULL;
    mean = PyFloat_AsDouble(args[1]);
    if (mean == -1.0 && PyErr_Occurred())
        return NULL;
    inv = PyFloat_AsDouble(args[2]);
    if (inv == -1.0 && PyErr_Occurred())
        return NULL;
    self->ma = c[0];
    self->mb = c[1];
    self->ua = c[2];
    self->ub = c[3];
    self->da = c[4];
    self->db = c[5];
    for (int i = 0; i < 4; i++) {
        self->h[i] = c[6 + i];
        self->cap[i] = c[6 + i] * cap_factor;
    }
    self->mean = mean;
    self->inv = inv;
    Py_RETURN_NONE;
}

static PyObject *
four_floats(const double *v)
{
    return Py_BuildValue("(dddd)", v[0], v[1], v[2], v[3]);
}

static PyObject *
CusumState_get_statistics(CusumState *self, void *Py_UNUSED(closure))
{
    return four_floats(self->s);
}

static int
CusumState_set_statistics(CusumState *self, PyObject *value, void *Py_UNUSED(closure))
{
    double v[4];
    if (value == NULL) {
        PyErr_SetString(PyExc_AttributeError, "cannot delete statistics");
        return -1;
    }
    if (read_doubles(value, v, 4, "statistics") < 0)
        return -1;
    memcpy(self->s, v, sizeof v);
    return 0;
}

static PyObject *
CusumState_get_thresholds(CusumState *self, void *Py_UNUSED(closure))
{
    return four_floats(self->h);
}

static PyMethodDef CusumState_methods[] = {
    {"step", (PyCFunction)CusumState_step, METH_O,
     "step(x) -> bool: one event's value; update the statistics; whether any is above its threshold."},
    {"step_capped", (PyCFunction)CusumState_step_capped, METH_O,
     "step_capped(x) -> bool: as step, then cap the statistics at CAP_FACTOR x threshold (DRIFTING)."},
    {"reset", (PyCFunction)CusumState_reset, METH_NOARGS, "reset(): every statistic to 0 (DRIFT_END)."},
    {"configure", (PyCFunction)(void (*)(void))CusumState_configure, METH_FASTCALL,
     "configure(coefficients, mean, inv): the recursions' 10 coefficients, baseline mean and 1/std."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef CusumState_getset[] = {
    {"statistics", (getter)CusumState_get_statistics, (setter)CusumState_set_statistics,
     "(mean_up, mean_down, std_up, std_down)", NULL},
    {"thresholds", (getter)CusumState_get_thresholds, NULL, "the four decision thresholds", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject CusumStateType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "detection.core._kernel.CusumState",
    .tp_doc = "One key's four CUSUM statistics and their coefficients (see detection.core.kernel).",
    .tp_basicsize = sizeof(CusumState),
    .tp_itemsize = 0,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew, /* zero-filled: statistics 0, coefficients 0 until configure() */
    .tp_methods = CusumState_methods,
    .tp_getset = CusumState_getset,
};

static struct PyModuleDef kernel_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "detection.core._kernel",
    .m_doc = "The cusum method's per-key recursion, compiled (see detection.core.kernel).",
    .m_size = -1,
};

PyMODINIT_FUNC
PyInit__kernel(void)
{
    PyObject *cusum = PyImport_ImportModule("detection.core.cusum");
    if (cusum == NULL)
        return NULL;
    PyObject *factor = PyObject_GetAttrString(cusum, "CAP_FACTOR");
    Py_DECREF(cusum);
    if (factor == NULL)
        return NULL;
    cap_factor = PyFloat_AsDouble(factor);
    Py_DECREF(factor);
    if (cap_factor == -1.0 && PyErr_Occurred())
        return NULL;
    if (PyType_Ready(&CusumStateType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&kernel_module);
    if (m == NULL)
        return NULL;
    if (PyModule_AddIntConstant(m, "VERSION", KERNEL_VERSION) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    Py_INCREF(&CusumStateType);
    if (PyModule_AddObject(m, "CusumState", (PyObject *)&CusumStateType) < 0) {
        Py_DECREF(&CusumStateType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}

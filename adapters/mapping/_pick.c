/* The C twin of adapters/mapping/pick.py: what a compiled XML mapping reads of an
 * element's children, taken in one call without a Python proxy for each child.
 *
 * Reading an item through lxml's Python API builds a proxy object, a "{ns}local" tag
 * string and a text string for every child, and those made up about half of the
 * compiled reader's time (issue 9). Here the children are matched on libxml2's own
 * names; only what the mapping uses becomes a Python object. Texts and attribute values
 * come from lxml's public C API (textOf, attributeValueFromNsName), so they are exactly
 * what element.text and element.get() return; proxies from elementFactory, so they are
 * lxml's own. pick.py documents the spec and is the reference the tests compare with.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

#include "lxml-version.h"
#include "etree_defs.h"
#include "etree_api.h"

enum { NODE = 0, TEXT = 1, ATTR = 2, ALL = 3 };

static PyTypeObject *element_type;

/* str.strip() of a text, None when nothing is left; steals the reference. */
static PyObject *stripped(PyObject *text) {
    if (text == NULL || text == Py_None) {
        return text;
    }
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    if (n > 0) {
        int kind = PyUnicode_KIND(text);
        const void *data = PyUnicode_DATA(text);
        if (!Py_UNICODE_ISSPACE(PyUnicode_READ(kind, data, 0)) &&
            !Py_UNICODE_ISSPACE(PyUnicode_READ(kind, data, n - 1))) {
            return text;
        }
        PyObject *clean = PyObject_CallMethod(text, "strip", NULL);
        Py_DECREF(text);
        if (clean == NULL || PyUnicode_GET_LENGTH(clean) > 0) {
            return clean;
        }
        text = clean;
    }
    Py_DECREF(text);
    Py_RETURN_NONE;
}

/* The UTF-8 of a str entry, NULL for None (no namespace); sets an error on a bad spec. */
static int utf8_or_null(PyObject *value, const char **out) {
    if (value == Py_None) {
        *out = NULL;
        return 0;
    }
    *out = PyUnicode_AsUTF8(value);
    return *out == NULL ? -1 : 0;
}

/* A spec entry decoded once a call, before the children are read. */
struct entry {
    const char *href, *local, *attr_href, *attr_name;
    long mode;
    int done; /* NODE, TEXT, ATTR: the first child of that name was read */
};

static int decode(PyObject *item, struct entry *e) {
    if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) != 5) {
        PyErr_SetString(PyExc_TypeError, "a pick entry is (href, local, mode, attr href, attr)");
        return -1;
    }
    e->mode = PyLong_AsLong(PyTuple_GET_ITEM(item, 2));
    e->done = 0;
    if ((e->mode == -1 && PyErr_Occurred()) ||
        utf8_or_null(PyTuple_GET_ITEM(item, 0), &e->href) < 0 ||
        utf8_or_null(PyTuple_GET_ITEM(item, 1), &e->local) < 0 ||
        utf8_or_null(PyTuple_GET_ITEM(item, 3), &e->attr_href) < 0 ||
        utf8_or_null(PyTuple_GET_ITEM(item, 4), &e->attr_name) < 0) {
        return -1;
    }
    if (e->local == NULL) {
        PyErr_SetString(PyExc_TypeError, "a pick entry needs a local name");
        return -1;
    }
    return 0;
}

static int matches(xmlNode *c_node, const struct entry *e) {
    /* the first byte first: most children are not the entry's, and differ there */
    if (c_node->name[0] != (xmlChar)e->local[0] ||
        strcmp((const char *)c_node->name, e->local) != 0) {
        return 0;
    }
    if (e->href == NULL) {
        return c_node->ns == NULL;
    }
    return c_node->ns != NULL && c_node->ns->href != NULL &&
           strcmp((const char *)c_node->ns->href, e->href) == 0;
}

static PyObject *empty_of(long mode) {
    if (mode == ALL) {
        return PyList_New(0);
    }
    Py_RETURN_NONE;
}

/* What a matching child gives an entry: NULL with an error set when it cannot. */
static PyObject *value_of(struct LxmlElement *parent, xmlNode *c_node, const struct entry *e) {
    switch (e->mode) {
    case NODE:
    case ALL:
        return (PyObject *)elementFactory(parent->_doc, c_node);
    case TEXT:
        return stripped(textOf(c_node));
    case ATTR:
        if (e->attr_name == NULL) {
            PyErr_SetString(PyExc_TypeError, "an ATTR entry needs an attribute name");
            return NULL;
        }
        return stripped(attributeValueFromNsName(
            c_node, (const xmlChar *)e->attr_href, (const xmlChar *)e->attr_name));
    default:
        PyErr_Format(PyExc_ValueError, "unknown pick mode %ld", e->mode);
        return NULL;
    }
}

/* Every entry read in one pass over the children (an entry is not searched for from
 * the first child again: that pass per entry was most of pick's time). An entry
 * takes the first child that matches it (ALL: each one, in order); ``out``'s slots
 * are set as entries are read (ALL: its list, set before the pass). */
static int read_children(struct LxmlElement *parent, struct entry *entries, Py_ssize_t n,
                         PyObject *out) {
    Py_ssize_t waiting = 0; /* NODE, TEXT and ATTR entries not read yet */
    int every = 0;          /* an ALL entry: the pass goes to the last child */
    for (Py_ssize_t i = 0; i < n; i++) {
        if (entries[i].mode == ALL) {
            PyObject *all = PyList_New(0);
            if (all == NULL) {
                return -1;
            }
            PyTuple_SET_ITEM(out, i, all);
            every = 1;
        } else {
            waiting++;
        }
    }
    for (xmlNode *c_node = parent->_c_node->children; c_node != NULL && (waiting || every);
         c_node = c_node->next) {
        if (c_node->type != XML_ELEMENT_NODE) {
            continue;
        }
        for (Py_ssize_t i = 0; i < n; i++) {
            struct entry *e = &entries[i];
            if (e->done || !matches(c_node, e)) {
                continue;
            }
            PyObject *value = value_of(parent, c_node, e);
            if (value == NULL) {
                return -1;
            }
            if (e->mode == ALL) {
                int failed = PyList_Append(PyTuple_GET_ITEM(out, i), value);
                Py_DECREF(value);
                if (failed < 0) {
                    return -1;
                }
                continue;
            }
            PyTuple_SET_ITEM(out, i, value);
            e->done = 1;
            waiting--;
        }
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        if (PyTuple_GET_ITEM(out, i) == NULL) {
            Py_INCREF(Py_None);
            PyTuple_SET_ITEM(out, i, Py_None);
        }
    }
    return 0;
}

enum { ON_STACK = 32 };

static PyObject *pick(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2 || !PyTuple_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "pick(element or None, spec tuple)");
        return NULL;
    }
    PyObject *parent = args[0], *spec = args[1];
    if (parent != Py_None && !PyObject_TypeCheck(parent, element_type)) {
        PyErr_SetString(PyExc_TypeError, "pick reads an lxml element");
        return NULL;
    }
    if (parent != Py_None && ((struct LxmlElement *)parent)->_c_node == NULL) {
        /* an element object with no node behind it (as lxml's own API refuses it) */
        PyErr_SetString(PyExc_AssertionError, "invalid Element proxy");
        return NULL;
    }
    Py_ssize_t n = PyTuple_GET_SIZE(spec);
    PyObject *out = PyTuple_New(n);
    if (out == NULL) {
        return NULL;
    }
    if (parent == Py_None) {
        for (Py_ssize_t i = 0; i < n; i++) {
            PyObject *entry = PyTuple_GET_ITEM(spec, i);
            long mode = PyTuple_Check(entry) && PyTuple_GET_SIZE(entry) == 5
                            ? PyLong_AsLong(PyTuple_GET_ITEM(entry, 2))
                            : NODE;
            PyObject *value = (mode == -1 && PyErr_Occurred()) ? NULL : empty_of(mode);
            if (value == NULL) {
                Py_DECREF(out);
                return NULL;
            }
            PyTuple_SET_ITEM(out, i, value);
        }
        return out;
    }
    struct entry on_stack[ON_STACK];
    struct entry *entries = n <= ON_STACK ? on_stack : PyMem_New(struct entry, n);
    if (entries == NULL) {
        Py_DECREF(out);
        return PyErr_NoMemory();
    }
    int failed = 0;
    for (Py_ssize_t i = 0; i < n && !failed; i++) {
        failed = decode(PyTuple_GET_ITEM(spec, i), &entries[i]);
    }
    if (!failed) {
        failed = read_children((struct LxmlElement *)parent, entries, n, out);
    }
    if (entries != on_stack) {
        PyMem_Free(entries);
    }
    if (failed) {
        Py_DECREF(out); /* slots not set yet are NULL, which the tuple's dealloc skips */
        return NULL;
    }
    return out;
}

static PyMethodDef methods[] = {
    {"pick", (PyCFunction)(void (*)(void))pick, METH_FASTCALL,
     "pick(element, spec): what spec names of element's children, in one tuple."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "_pick", "The C twin of adapters.mapping.pick.", -1, methods,
};

PyMODINIT_FUNC PyInit__pick(void) {
    if (import_lxml__etree() < 0) {
        return NULL;
    }
    PyObject *etree = PyImport_ImportModule("lxml.etree");
    if (etree == NULL) {
        return NULL;
    }
    element_type = (PyTypeObject *)PyObject_GetAttrString(etree, "_Element");
    Py_DECREF(etree);
    if (element_type == NULL) {
        return NULL;
    }
    return PyModule_Create(&module_def);
}

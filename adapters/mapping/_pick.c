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

static int matches(xmlNode *c_node, const char *href, const char *local) {
    if (c_node->type != XML_ELEMENT_NODE || strcmp((const char *)c_node->name, local) != 0) {
        return 0;
    }
    if (href == NULL) {
        return c_node->ns == NULL;
    }
    return c_node->ns != NULL && c_node->ns->href != NULL &&
           strcmp((const char *)c_node->ns->href, href) == 0;
}

static PyObject *empty_of(long mode) {
    if (mode == ALL) {
        return PyList_New(0);
    }
    Py_RETURN_NONE;
}

/* One entry: the first child of that name (all of them for ALL) read as asked. */
static PyObject *entry_value(struct LxmlElement *parent, PyObject *entry) {
    const char *href, *local, *attr_href, *attr_name;
    if (!PyTuple_Check(entry) || PyTuple_GET_SIZE(entry) != 5) {
        PyErr_SetString(PyExc_TypeError, "a pick entry is (href, local, mode, attr href, attr)");
        return NULL;
    }
    long mode = PyLong_AsLong(PyTuple_GET_ITEM(entry, 2));
    if ((mode == -1 && PyErr_Occurred()) ||
        utf8_or_null(PyTuple_GET_ITEM(entry, 0), &href) < 0 ||
        utf8_or_null(PyTuple_GET_ITEM(entry, 1), &local) < 0 ||
        utf8_or_null(PyTuple_GET_ITEM(entry, 3), &attr_href) < 0 ||
        utf8_or_null(PyTuple_GET_ITEM(entry, 4), &attr_name) < 0) {
        return NULL;
    }
    if (local == NULL) {
        PyErr_SetString(PyExc_TypeError, "a pick entry needs a local name");
        return NULL;
    }
    PyObject *all = NULL;
    if (mode == ALL && (all = PyList_New(0)) == NULL) {
        return NULL;
    }
    for (xmlNode *c_node = parent->_c_node->children; c_node != NULL; c_node = c_node->next) {
        if (!matches(c_node, href, local)) {
            continue;
        }
        switch (mode) {
        case NODE:
            return (PyObject *)elementFactory(parent->_doc, c_node);
        case TEXT:
            return stripped(textOf(c_node));
        case ATTR:
            if (attr_name == NULL) {
                PyErr_SetString(PyExc_TypeError, "an ATTR entry needs an attribute name");
                return NULL;
            }
            return stripped(attributeValueFromNsName(
                c_node, (const xmlChar *)attr_href, (const xmlChar *)attr_name));
        case ALL: {
            PyObject *child = (PyObject *)elementFactory(parent->_doc, c_node);
            if (child == NULL || PyList_Append(all, child) < 0) {
                Py_XDECREF(child);
                Py_DECREF(all);
                return NULL;
            }
            Py_DECREF(child);
            break;
        }
        default:
            PyErr_Format(PyExc_ValueError, "unknown pick mode %ld", mode);
            return NULL;
        }
    }
    return mode == ALL ? all : empty_of(mode);
}

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
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *entry = PyTuple_GET_ITEM(spec, i), *value;
        if (parent == Py_None) {
            long mode = PyTuple_Check(entry) && PyTuple_GET_SIZE(entry) == 5
                            ? PyLong_AsLong(PyTuple_GET_ITEM(entry, 2))
                            : NODE;
            value = (mode == -1 && PyErr_Occurred()) ? NULL : empty_of(mode);
        } else {
            value = entry_value((struct LxmlElement *)parent, entry);
        }
        if (value == NULL) {
            Py_DECREF(out);
            return NULL;
        }
        PyTuple_SET_ITEM(out, i, value);
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

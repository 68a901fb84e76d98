#include "common/repo.h"

#include <stdarg.h>
#include <stdlib.h>

void repo_msg_list_add(struct repo_msg_list *l, const struct repo_msg *m)
{
	xgrow(&l->v, &l->cap, l->n + 1, sizeof(*l->v));
	l->v[l->n++] = *m;
}

void repo_msg_list_free(struct repo_msg_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].key);
	free(l->v);
	l->v = NULL;
	l->n = l->cap = 0;
}

const char *repo_error(const struct repo *r)
{
	return r->error ? r->error : "";
}

int repo_fail(struct repo *r, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *msg = xvasprintf(fmt, ap);
	va_end(ap);
	free(r->error);
	r->error = msg;
	return code;
}

void repo_base_init(struct repo *r, const struct repo_ops *ops, const char *name)
{
	r->ops = ops;
	r->name = xstrdup(name);
	r->error = NULL;
	r->folder = NULL;
}

void repo_base_free(struct repo *r)
{
	free(r->name);
	free(r->error);
	free(r->folder);
	r->name = r->error = r->folder = NULL;
}

/** JSON calls to the web app. State-changing calls always send JSON (the server's CSRF rule). */
export interface ApiError {
  status: number;
  code: string;
  message: string;
  fields?: Record<string, string>;
  retry_after?: number;
  attempts_left?: number;
}

export class ApiFailure extends Error {
  constructor(readonly error: ApiError) {
    super(error.message);
  }
}

export async function api<T = Record<string, unknown>>(method: 'GET' | 'POST' | 'PATCH' | 'DELETE', path: string, body?: unknown): Promise<T> {
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      credentials: 'same-origin',
      headers: method === 'GET' ? { accept: 'application/json' } : { accept: 'application/json', 'content-type': 'application/json' },
      ...(method === 'GET' ? {} : { body: JSON.stringify(body ?? {}) }),
    });
  } catch {
    throw new ApiFailure({ status: 0, code: 'NETWORK', message: 'Could not reach the server. Check your connection and try again.' });
  }
  let data: unknown = {};
  try {
    data = await res.json();
  } catch {
    /* empty or not JSON */
  }
  if (!res.ok) {
    const d = (data ?? {}) as Partial<ApiError>;
    const retry = Number(res.headers.get('retry-after'));
    throw new ApiFailure({
      status: res.status,
      code: d.code ?? `HTTP_${res.status}`,
      message: d.message ?? 'Something went wrong. Please try again.',
      ...(d.fields ? { fields: d.fields } : {}),
      ...(d.retry_after !== undefined ? { retry_after: d.retry_after } : Number.isFinite(retry) && retry > 0 ? { retry_after: retry } : {}),
      ...(d.attempts_left !== undefined ? { attempts_left: d.attempts_left } : {}),
    });
  }
  return data as T;
}

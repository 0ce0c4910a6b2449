import io, os, subprocess, tarfile, zipfile, gzip, re, sys
root = sys.argv[1]
C = os.path.join(root, 'tests/fuzz/corpus')
def put(d, name, data):
    os.makedirs(os.path.join(C, d), exist_ok=True)
    if isinstance(data, str): data = data.encode()
    open(os.path.join(C, d, name), 'wb').write(data)

oa = '{"custom_id":"req-1","method":"POST","url":"/v1/chat/completions","body":{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"max_tokens":16}}'
an = '{"custom_id":"r1","endpoint":"claude","params":{"model":"claude-3-5-haiku-latest","max_tokens":256,"messages":[{"role":"user","content":"Hi"}]}}'
emb = '{"custom_id":"e-1","method":"POST","url":"/v1/embeddings","body":{"model":"text-embedding-3-small","input":"x"},"max_attempts":3,"timeout_s":60}'
resp = '{"custom_id":"x","method":"POST","url":"/v1/responses","body":{"model":"m","input":"\\u00e9\\ud83d\\ude00"},"endpoint":"wc"}'
bare_chat = '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hello"}]}'
bare_prompt = '{"model":"m","prompt":"once upon","max_completion_tokens":5}'
bare_input = '{"model":"m","input":["a","b"]}'
bad = ['{"custom_id":"a","method":"GET","url":"/v1/chat/completions","body":{}}',
       '{"custom_id":"a","method":"POST","url":"https://evil/v1/x","body":{}}',
       '{"custom_id":"a","method":"POST","url":"/v1/chat/completions","body":{"stream":true}}',
       '{"custom_id":"a","params":{},"extra":1}', '[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]',
       '{"custom_id":"\\u0000","body":{}} trailing']
for i, s in enumerate([oa, an, emb, resp, bare_chat, bare_prompt, bare_input] + bad):
    put('task', 'seed-%02d.json' % i, s)

conf = open(os.path.join(root, 'etc/spoold.conf')).read()
put('config', 'spoold.conf', conf)
man = open(os.path.join(root, 'spoold/spoold.conf.5')).read()
for i, m in enumerate(re.findall(r'\.Bd -literal -offset indent\n(.*?)\.Ed', man, re.S)):
    if m.lstrip().startswith('['):
        put('config', 'man-%d.conf' % i, m)
put('config', 'bad-1.conf', '[spool]\nsettle = 5x\n')
put('config', 'bad-2.conf', '[endpoint e]\ntype = exec\ncommand = "unterminated\n')
put('config', 'bad-3.conf', '[endpoint k]\napi_key_env = A\napi_key_file = /k\n[batch]\nbudget = 1.5\narchive = tar.zst\n[retry]\nbackoff_base = 2m\nbackoff_max = 1m\n')

def tar(members, mode='w'):
    b = io.BytesIO()
    with tarfile.open(fileobj=b, mode=mode, format=tarfile.PAX_FORMAT) as t:
        for name, data, typ in members:
            ti = tarfile.TarInfo(name); ti.mtime = 0
            if typ == 'dir': ti.type = tarfile.DIRTYPE
            elif typ == 'sym': ti.type = tarfile.SYMTYPE; ti.linkname = '/etc/passwd'
            else: ti.size = len(data)
            t.addfile(ti, io.BytesIO(data) if typ == 'file' else None)
    return b.getvalue()
ok = [('batch', b'', 'dir'), ('batch/a.jsonl', (oa + '\n' + an).encode(), 'file'),
      ('batch/b.json', bare_chat.encode(), 'file'), ('batch/notes.txt', b'skip me', 'file'),
      ('batch/.hidden.json', b'{}', 'file')]
plain = tar(ok)
put('unpack', 'ok.tar', plain)
put('unpack', 'ok.tar.gz', gzip.compress(plain, mtime=0))
put('unpack', 'ok.tar.zst', subprocess.run(['zstd', '-q', '-c'], input=plain, stdout=subprocess.PIPE, check=True).stdout)
b = io.BytesIO()
with zipfile.ZipFile(b, 'w', zipfile.ZIP_DEFLATED) as z:
    z.writestr('a.jsonl', oa + '\n' + emb + '\n')
    z.writestr('sub/b.json', bare_prompt)
    z.writestr('bad.json', '{"not":')
put('unpack', 'ok.zip', b.getvalue())
put('unpack', 'dotdot.tar', tar([('../escape.jsonl', oa.encode(), 'file')]))
put('unpack', 'symlink.tar', tar([('link.jsonl', b'', 'sym')]))
b = io.BytesIO()
with zipfile.ZipFile(b, 'w', zipfile.ZIP_STORED) as z:
    z.writestr('/abs.jsonl', oa + '\n')
put('unpack', 'abs.zip', b.getvalue())

ok_body = '{"id":"chatcmpl-1","choices":[{"message":{"role":"assistant","content":"hi"}}],"usage":{"prompt_tokens":9,"completion_tokens":12}}'
put('http', 'ok-openai', '200 0\r\nx-request-id: req_abc\r\nx-ratelimit-remaining-requests: 499\r\nx-ratelimit-remaining-tokens: 19000\r\nx-ratelimit-reset-requests: 6m0s\r\nx-ratelimit-reset-tokens: 250ms\r\n\r\n' + ok_body)
put('http', 'ok-anthropic', '200 0\r\nrequest-id: req_018\r\nanthropic-ratelimit-requests-remaining: 49\r\nanthropic-ratelimit-tokens-reset: 2099-11-27T07:30:00Z\r\nanthropic-ratelimit-requests-reset: 2020-01-01T00:00:00Z\r\n\r\n{"id":"msg_1","type":"message","content":[{"type":"text","text":"hi"}],"usage":{"input_tokens":3,"output_tokens":1}}')
put('http', '429-retry', '429 0\r\nretry-after: 1.5\r\nretry-after-ms: 1200\r\nx-should-retry: true\r\n\r\n{"error":{"code":"rate_limit_exceeded","message":"slow down"}}')
put('http', '429-quota', '429 0\r\nRetry-After: 20\r\n\r\n{"error":{"type":"insufficient_quota","message":"pay"}}')
put('http', '529-anthropic', '529 0\r\nx-should-retry: false\r\n\r\n{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}')
put('http', '502-html', '502 0\r\ncontent-type: text/html\r\n\r\n<html><body>Bad gateway</body></html>')
put('http', 'timeout', '0 28\r\n\r\n')
put('http', 'refused', '0 7\r\n\r\n')
put('http', '401', '401 0\r\n\r\n{"error":{"message":"bad key","type":"invalid_request_error","code":"invalid_api_key"}}')

put('record', 'line', '{"id":"batch_req_1","custom_id":"a","response":{"status_code":200,"request_id":"r","body":{"usage":{"prompt_tokens":1,"completion_tokens":2}}},"error":null}')
put('record', 'usage', '{"usage":{"input_tokens":10,"output_tokens":20,"prompt_tokens":1e3}}')
put('record', 'text', 'Service Unavailable')

put('build', 'csv-1', '\x00id,text\r\n1,"hello, ""world"""\r\n2,"multi\nline"\n\n3,plain\n')
put('build', 'csv-2', '\x02a,b\n"open')
put('build', 'tmpl-body', '\x01{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Summarise: {{ text }} ({{id}})"}]}')
put('build', 'tmpl-line', '\x01{"method":"POST","url":"/v1/embeddings","body":{"model":"m","input":"{{text}}"}}')
put('build', 'tmpl-anthropic', '\x01{"params":{"model":"claude","max_tokens":5,"messages":[{"role":"user","content":"{{missing}} {{ {{x}}"}]}}')

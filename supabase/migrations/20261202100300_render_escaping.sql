-- Variables filled into a template are text, never markup, in every parse mode.
--  html: & < > " and ' are escaped (Telegram's HTML mode reads numeric entities such as &#39;).
--  markdown: the worker's dialect (worker/src/gateway/format.ts: **bold**, __italic__, ~~strike~~,
--    `code`, ```pre```, [text](url)) has no escape character, so a value is made inert instead:
--    a zero-width space (U+200B, invisible) goes between two markers (* _ ~) that meet inside
--    the value, at its edges when it starts or ends with one (so it cannot pair with the
--    template's), and between "]" and "(" (so it cannot end a link); a backtick becomes U+02CB
--    (ˋ), which looks alike and opens no code span. A single "_" inside a value (a user name,
--    a URL) is left as it is: alone it is no markup.
--  plain: as written.
create function private.escape_variable(p_value text, p_parse_mode text) returns text
language plpgsql immutable set search_path = '' as $$
declare
  zw constant text := U&'\200B';
  v text := p_value;
begin
  if p_parse_mode = 'html' then
    return replace(replace(replace(replace(replace(v, '&', '&amp;'), '<', '&lt;'), '>', '&gt;'), '"', '&quot;'), '''', '&#39;');
  elsif p_parse_mode = 'markdown' then
    v := replace(v, '`', U&'\02CB');
    v := regexp_replace(v, '([*_~])(?=[*_~])', '\1' || zw, 'g');
    v := regexp_replace(v, '\](?=\()', ']' || zw, 'g');
    if v ~ '^[*_~(]' then v := zw || v; end if;
    if v ~ '[*_~\]]$' then v := v || zw; end if;
  end if;
  return v;
end $$;

-- Renders {{name}} placeholders in one pass (a value containing "{{x}}" stays as it is) and
-- returns the text and the names it had no value for (left in place). Values are escaped for the
-- parse mode (private.escape_variable). Text and result are bounded by Telegram's 4096
-- characters, which also bounds the work a caller can ask of the database.
create or replace function public.render_template(p_text text, p_variables jsonb default '{}',
  p_parse_mode text default 'plain')
returns table (text text, missing text[])
language plpgsql immutable security definer set search_path = '' as $$
declare
  v_placeholder constant text := '(\{\{\s*([A-Za-z0-9_.-]+)\s*\}\})';
  v_max constant integer := 4096;
  v_parts text[];
  v_found text[];
  v_names text[];
  v_out text;
  v_piece text;
  v_val text;
  v_missing text[] := '{}';
begin
  if p_variables is not null and jsonb_typeof(p_variables) <> 'object' then
    raise exception 'variables must be an object of names to values' using errcode = 'PT422',
      detail = '{"field":"variables"}';
  end if;
  if char_length(p_text) > v_max then
    raise exception 'the text is longer than % characters', v_max using errcode = 'PT422',
      detail = '{"field":"text"}';
  end if;
  v_parts := regexp_split_to_array(p_text, v_placeholder);
  select coalesce(array_agg(m[1] order by n), '{}'), coalesce(array_agg(m[2] order by n), '{}')
    into v_found, v_names
  from regexp_matches(p_text, v_placeholder, 'g') with ordinality as t (m, n);
  v_out := v_parts[1];
  for i in 1 .. cardinality(v_names) loop
    v_val := coalesce(p_variables, '{}') ->> v_names[i];
    if v_val is null then
      v_missing := v_missing || v_names[i];
      v_piece := v_found[i];
    else
      v_piece := private.escape_variable(v_val, p_parse_mode);
    end if;
    v_out := v_out || v_piece || v_parts[i + 1];
    if char_length(v_out) > v_max then
      raise exception 'the message with its variables filled in is longer than % characters', v_max
        using errcode = 'PT422', detail = '{"field":"variables"}';
    end if;
  end loop;
  return query select v_out, array(select distinct x from unnest(v_missing) x order by 1);
end $$;

revoke execute on function private.escape_variable(text, text) from public, anon, authenticated;

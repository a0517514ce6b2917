-- The UTF-16 length checks of 20261206200000_test_send_limits.sql without a function call: a
-- check constraint runs with the privileges of whoever writes the row, and `authenticated` may
-- execute no function of schema private. The expression is private.utf16_length's (a character
-- outside the Basic Multilingual Plane counts 2), which only the database's own functions call.
revoke execute on function private.utf16_length(text) from public, anon, authenticated;

alter table public.templates drop constraint templates_text_check,
  add constraint templates_text_check check (char_length(text) >= 1
    and char_length(text) + char_length(regexp_replace(text, '[^\U00010000-\U0010FFFF]', '', 'g')) <= 4096) not valid;
alter table public.campaigns drop constraint campaigns_message_text_check,
  add constraint campaigns_message_text_check check (char_length(message_text) >= 1
    and char_length(message_text) + char_length(regexp_replace(message_text, '[^\U00010000-\U0010FFFF]', '', 'g')) <= 4096)
    not valid,
  drop constraint campaigns_caption_check,
  add constraint campaigns_caption_check check (media_path is null
    or char_length(message_text) + char_length(regexp_replace(message_text, '[^\U00010000-\U0010FFFF]', '', 'g')) <= 1024)
    not valid;

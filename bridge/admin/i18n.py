"""Admin labels in English and Japanese, the language chosen from the browser's Accept-Language."""

from __future__ import annotations

from flask import Request

LANGUAGES = ("en", "ja")

# key -> (English, Japanese). Placeholders use str.format names, the same in both languages.
MESSAGES: dict[str, tuple[str, str]] = {
    "admin": ("Admin", "管理画面"),
    "nav.mappings": ("Mapping files", "マッピングファイル"),
    "nav.leads": ("Leads", "リード"),
    "nav.sla": ("SLA", "SLA"),
    "nav.reconcile": ("Reconciliation", "突き合わせ"),
    "nav.outbox": ("Failed writes", "送信失敗"),
    "nav.inbox": ("Failed events", "受信処理の失敗"),
    "nav.audit": ("Audit log", "操作ログ"),
    "nav.logout": ("Log out", "ログアウト"),
    "yes": ("yes", "はい"),
    "no": ("no", "いいえ"),
    # login
    "login.title": ("Log in", "ログイン"),
    "login.password": ("Admin password", "管理者パスワード"),
    "login.submit": ("Log in", "ログイン"),
    "login.help": (
        "Enter the admin password (the setting BRIDGE_ADMIN_PASSWORD). If you do not know it, "
        "ask the engineer who runs Bridge.",
        "管理者パスワード (設定 BRIDGE_ADMIN_PASSWORD) を入力してください。"
        "わからない場合は Bridge の運用担当エンジニアに確認してください。",
    ),
    "login.wrong": (
        "The password is wrong. Check it (including upper/lower case and full-width characters) and "
        "try again. After {limit} failed attempts within {minutes} minutes, logins from your address "
        "are paused.",
        "パスワードが違います。大文字・小文字や全角文字を確認して、もう一度入力してください。"
        "{minutes} 分以内に {limit} 回失敗すると、このアドレスからのログインは一時停止されます。",
    ),
    "flash.login_needed": ("Please log in to continue.", "続けるにはログインしてください。"),
    "flash.logged_in": ("You are logged in.", "ログインしました。"),
    "flash.logged_out": ("You are logged out.", "ログアウトしました。"),
    "flash.session_expired": (
        "Your session expired (sessions last {hours} hours from login, and end after {idle} hours without use). "
        "Please log in again; anything you had not saved was not saved.",
        "セッションの有効期限が切れました (ログインから {hours} 時間、または {idle} 時間操作がないと終了します)。"
        "もう一度ログインしてください。保存していなかった内容は保存されていません。",
    ),
    "flash.session_ended": (
        "This session has ended: it was logged out, or the admin password was changed. Please log in again.",
        "このセッションは終了しています (ログアウト済み、または管理者パスワードが変更されました)。"
        "もう一度ログインしてください。",
    ),
    # list
    "list.title": ("Mapping files", "マッピングファイル"),
    "list.intro": (
        "Each route file says which HubSpot property goes to which Salesforce or kintone field; "
        "handoff.yaml holds the handoff rules. Open a file to edit it, preview it and see its history.",
        "ルートファイルは HubSpot のプロパティをどの Salesforce / kintone の項目に送るかを定めます。"
        "handoff.yaml は引き渡し基準です。ファイルを開くと編集・プレビュー・履歴の確認ができます。",
    ),
    "mappings.read_only": (
        "These are the default mappings shipped with Bridge, and they cannot be saved here. To edit them, run "
        "`bridge init` on the server (it writes an editable copy to ./mappings) or set BRIDGE_MAPPINGS to the "
        "folder holding your mapping files, then restart Bridge.",
        "Bridge に同梱の初期マッピングを使用しているため、ここでは保存できません。編集するには、サーバーで "
        "`bridge init` を実行して編集用のコピー (./mappings) を作成するか、BRIDGE_MAPPINGS にマッピングファイルの"
        "フォルダーを設定してから、Bridge を再起動してください。",
    ),
    "list.empty": (
        "There are no mapping files in {folder}. Check the setting BRIDGE_MAPPINGS.",
        "{folder} にマッピングファイルがありません。設定 BRIDGE_MAPPINGS を確認してください。",
    ),
    "col.file": ("File", "ファイル"),
    "col.kind": ("Kind", "種類"),
    "col.description": ("Description", "説明"),
    "col.enabled": ("Enabled", "有効"),
    "col.status": ("Status", "状態"),
    "col.versions": ("Versions", "版の数"),
    "col.last_saved": ("Last saved", "最終保存"),
    "kind.route": ("Route", "ルート"),
    "kind.handoff": ("Handoff rules", "引き渡し基準"),
    "kind.feedback": ("Sales feedback rules", "営業フィードバックのルール"),
    "kind.sla": ("SLA policies and business calendar", "SLA ポリシーと営業日カレンダー"),
    "status.ok": ("OK", "問題なし"),
    "status.problems": ("{n} problem(s)", "{n} 件の問題"),
    "status.warnings": ("{n} warning(s)", "{n} 件の警告"),
    "action.edit": ("Edit", "編集"),
    "action.history": ("History", "履歴"),
    "action.view": ("View text", "本文を見る"),
    "action.back_to_edit": ("Back to editing", "編集に戻る"),
    # edit
    "edit.title": ("Edit {file}", "{file} の編集"),
    "edit.active_problems": (
        "The file on disk has {n} problem(s). Bridge refuses to start with it until they are fixed.",
        "保存されているファイルに {n} 件の問題があります。修正するまで Bridge は起動できません。",
    ),
    "edit.problems": (
        "This text has {n} problem(s) and was NOT saved; the active version is unchanged. "
        "Fix the lines listed below, then press Check or Save again.",
        "この内容には {n} 件の問題があるため保存していません (現在の版がそのまま使われます)。"
        "下の行を修正してから、もう一度「確認」または「保存」を押してください。",
    ),
    "edit.checked_ok": (
        "No problems found. Press Save to make this text the active version.",
        "問題は見つかりませんでした。「保存」を押すとこの内容が使われるようになります。",
    ),
    "edit.warnings": ("Warnings (saving is still allowed):", "警告 (保存はできます):"),
    "edit.notes": ("Notes:", "補足:"),
    "edit.line": ("line {line}", "{line} 行目"),
    "edit.text": ("Mapping text (YAML)", "マッピングの内容 (YAML)"),
    "edit.note": ("What changed (optional, shown in the history)", "変更内容のメモ (任意・履歴に表示)"),
    "edit.record": ("Record to preview (JSON, optional)", "プレビューに使うレコード (JSON・任意)"),
    "edit.record_help": (
        "Leave empty to use the built-in sample (a HubSpot contact with Japanese data). "
        'Or paste a record as {{"field": "value"}} or as the HubSpot API returns it.',
        "空欄のままなら組み込みのサンプル (日本語データの HubSpot コンタクト) を使います。"
        '{{"項目": "値"}} の形式、または HubSpot API が返す形式の JSON を貼り付けることもできます。',
    ),
    "edit.record_help_sla": (
        "Leave empty to see the deadlines for a handoff now and on the coming Friday at 17:30. Or paste a handoff "
        'time to try, e.g. {{"handed_off_at": "2026-12-28T17:00"}} (without an offset it is in the calendar\'s '
        "time zone).",
        "空欄のままなら、今と次の金曜 17:30 に引き渡した場合の期限を表示します。"
        '{{"handed_off_at": "2026-12-28T17:00"}} のように引き渡し日時を貼り付けて試すこともできます '
        "(タイムゾーンを省略するとカレンダーのタイムゾーンです)。",
    ),
    "edit.record_help_handoff": (
        "Leave empty to evaluate the built-in sample leads. Or paste "
        '{{"lead": {{"jobtitle": "部長", ...}}, "activities": [{{"type": "seminar_attended", '
        '"days_ago": 1}}]}}.',
        "空欄のままなら組み込みのサンプルリードで判定します。"
        '{{"lead": {{"jobtitle": "部長", ...}}, "activities": [{{"type": "seminar_attended", '
        '"days_ago": 1}}]}} の形式で貼り付けることもできます。',
    ),
    "edit.conflict": (
        "Someone saved this file after you opened it (it is now at version {version}). Your text was "
        "NOT saved and is kept below. Compare it with the history; press Save again to replace their "
        "version with yours.",
        "あなたが開いた後に、別の人がこのファイルを保存しました (現在は第 {version} 版)。"
        "あなたの内容は保存していません (下に残っています)。履歴と見比べ、置き換えてよければもう一度"
        "「保存」を押してください。",
    ),
    "button.check": ("Check", "確認"),
    "button.preview": ("Preview", "プレビュー"),
    "button.save": ("Save", "保存"),
    "button.restore": ("Restore this version", "この版に戻す"),
    "flash.saved": (
        "Saved as version {version}. It is active now.",
        "第 {version} 版として保存しました。この版が使われます。",
    ),
    "flash.unchanged": (
        "Nothing changed: the text equals the active version, so no new version was made.",
        "変更はありません (現在の版と同じ内容のため、新しい版は作っていません)。",
    ),
    "flash.restored": (
        "Version {version} restored as version {new}. It is active now.",
        "第 {version} 版を第 {new} 版として復元しました。この版が使われます。",
    ),
    "restore.rejected": (
        "Version {version} no longer passes the checks (for example a setting it needs changed), so it "
        "was NOT restored. Its text is below: fix it and save, or pick another version.",
        "第 {version} 版は現在のチェックを通らないため復元していません (必要な設定が変わった等)。"
        "下に内容を表示しています。修正して保存するか、別の版を選んでください。",
    ),
    # preview
    "preview.title": ("Preview (nothing is saved)", "プレビュー (保存はされません)"),
    "preview.sample": ("Built-in sample record", "組み込みのサンプルレコード"),
    "preview.pasted": ("Your record", "貼り付けたレコード"),
    "preview.key": ("upsert key", "照合キー"),
    "preview.not_sent": ("not sent (empty)", "送信しません (空)"),
    "preview.failed": ("not sent (error)", "送信しません (エラー)"),
    "preview.default": ("default", "既定値"),
    "preview.reads": ("reads", "参照"),
    "preview.note": ("note", "補足"),
    "preview.payload": ("Payload sent to {system} {object}", "{system} {object} に送る内容"),
    "preview.cannot_send": (
        "This record could not be sent; fix the mapping or the record:",
        "このレコードは送信できません。マッピングかレコードを修正してください:",
    ),
    "preview.bad_record": (
        'The record is not usable: {error}. Paste one JSON object such as {{"email": '
        '"taro@example.co.jp"}}, or leave the box empty to use the sample.',
        'レコードを読み取れません: {error}。{{"email": "taro@example.co.jp"}} のような JSON '
        "オブジェクトを 1 つ貼り付けるか、空欄にしてサンプルを使ってください。",
    ),
    "preview.no_sample": (
        "There is no built-in sample for {system} {object}; paste a record as JSON.",
        "{system} {object} の組み込みサンプルはありません。レコードを JSON で貼り付けてください。",
    ),
    "col.target_field": ("Target field", "送信先の項目"),
    "col.value": ("Value", "値"),
    "col.from": ("From", "元の項目"),
    "col.steps": ("How (transforms)", "変換の内容"),
    "col.lead": ("Lead", "リード"),
    "col.score": ("Score", "スコア"),
    "col.stage": ("Stage", "ステージ"),
    "col.temperature": ("Temperature", "温度感"),
    "col.result": ("Result", "判定"),
    "col.why": ("Why", "理由"),
    "handoff.handed_off": ("handed off ({criterion})", "引き渡し ({criterion})"),
    "handoff.not_yet": ("not yet", "基準未達"),
    "handoff.excluded": ("excluded: {reason}", "除外: {reason}"),
    "handoff.points": ("{attributes} attributes + {behaviour} behaviour", "属性 {attributes} + 行動 {behaviour}"),
    "sample.worked": (
        "Director, SaaS, 100-500 staff; 2 whitepapers + pricing page",
        "部長・SaaS・100-500名、資料DL 2回 + 料金ページ閲覧",
    ),
    "sample.no_pricing": (
        "Same person without the pricing-page visit",
        "同じ人で料金ページ閲覧なし",
    ),
    "sample.free_mail": ("Free-mail address, attended a seminar", "フリーメール、セミナー参加"),
    "sample.pasted": ("Your lead", "貼り付けたリード"),
    "sample.call_attempted": ("A call logged in Salesforce: no answer", "Salesforce に記録された電話: 不在"),
    "sample.call_connected": ("A call logged in Salesforce: connected", "Salesforce に記録された電話: 通話"),
    "sample.disqualified": ("A Lead closed for no budget", "予算なしでクローズされたリード"),
    "sample.converted": ("A Lead converted to a Contact and an Opportunity", "取引先責任者と商談に変換されたリード"),
    "sample.won": ("An Opportunity won", "受注した商談"),
    "sample.recycled": ("A kintone lead given back to marketing", "マーケに戻された kintone のリード"),
    "sample.handoff_now": ("Handed off now", "今引き渡した場合"),
    "sample.friday_evening": ("Handed off on Friday evening", "金曜の夕方に引き渡した場合"),
    "sample.pasted_time": ("Handed off at your time", "貼り付けた日時に引き渡した場合"),
    "feedback.change": ("Change in the sales system", "営業システムでの変更"),
    "feedback.events": ("Sales events", "営業イベント"),
    "feedback.hubspot": ("Written back to HubSpot", "HubSpot への書き戻し"),
    "feedback.no_event": ("No event: nothing sales decided", "イベントなし (営業の判断ではない変更)"),
    "feedback.reason": ("Reason: {value} ({code})", "理由: {value} ({code})"),
    "feedback.unknown_reason": ("not in the reason vocabulary: kept as is", "理由の語彙にない値 (そのまま保存)"),
    "feedback.followed": ("followed from now on: {object} {id}", "以後も追跡: {object} {id}"),
    "feedback.backward": ("a move back: cleared first, then set", "戻す方向: いったん空にしてから設定"),
    "event.contacted": ("contacted", "連絡"),
    "event.attempted": ("attempted, not reached", "不通"),
    "event.connected": ("connected", "通話"),
    "event.qualified": ("qualified", "有望"),
    "event.disqualified": ("disqualified", "対象外"),
    "event.converted": ("converted", "商談化"),
    "event.won": ("won", "受注"),
    "event.lost": ("lost", "失注"),
    "event.recycled": ("given back to marketing", "マーケに戻す"),
    "stage.awareness": ("awareness", "認知"),
    "stage.interest": ("interest", "興味"),
    "stage.consideration": ("consideration", "検討"),
    # history
    "history.title": ("History of {file}", "{file} の履歴"),
    "history.empty": (
        "No versions yet. The first save from these pages also keeps the file as it was, so you can "
        "always go back.",
        "まだ版はありません。この画面から最初に保存するとき、元のファイルも版として残すので、"
        "いつでも元に戻せます。",
    ),
    "history.restore_help": (
        "Restoring checks the old text again and saves it as a new version; nothing is deleted.",
        "復元すると古い内容をもう一度チェックし、新しい版として保存します。削除される版はありません。",
    ),
    "history.active": ("active", "使用中"),
    "history.no_diff": ("(the file as first seen: no earlier text to compare)", "(最初の内容のため比較対象なし)"),
    "col.version": ("Version", "版"),
    "col.author": ("Saved by", "保存した人"),
    "col.when": ("When", "日時"),
    "col.note": ("Note", "メモ"),
    "col.diff": ("Changes", "変更内容"),
    "version.title": ("{file}, version {version}", "{file} 第 {version} 版"),
    # audit
    "audit.title": ("Audit log", "操作ログ"),
    "audit.intro": ("Admin actions, newest first (up to {n}).", "管理操作の記録 (新しい順・最大 {n} 件)。"),
    "audit.empty": ("Nothing recorded yet.", "まだ記録はありません。"),
    "col.actor": ("Who", "操作した人"),
    "col.action": ("Action", "操作"),
    "col.target": ("Target", "対象"),
    "col.detail": ("Detail", "詳細"),
    "audit.login": ("logged in", "ログイン"),
    "audit.login_failed": ("failed login", "ログイン失敗"),
    "audit.logout": ("logged out", "ログアウト"),
    "audit.save": ("saved", "保存"),
    "audit.save_rejected": ("save refused (problems)", "保存拒否 (問題あり)"),
    "audit.restore": ("restored", "復元"),
    "audit.restore_rejected": ("restore refused (problems)", "復元拒否 (問題あり)"),
    "audit.outbox_replay": ("replayed failed writes", "送信失敗の再送"),
    "audit.inbox_replay": ("replayed failed events", "受信処理の失敗の再処理"),
    # leads
    "leads.title": ("Leads", "リード"),
    "leads.intro": (
        "Every lead Bridge has scored, newest first. Open a lead's timeline to see what was received, "
        "how it was scored and why it was or was not handed off to sales, and what was written where.",
        "Bridge がスコアリングしたリードの一覧です (新しい順)。タイムラインを開くと、受信した変更・行動、"
        "スコアの内訳と営業へ引き渡した (または引き渡さなかった) 理由、各システムへの書き込み結果を確認できます。",
    ),
    "leads.search": ("Find by email address or HubSpot contact id",
                     "メールアドレスまたは HubSpot コンタクト ID で検索"),
    "leads.search_help": (
        "Enter a whole email address (taro@example.co.jp) or a HubSpot contact id (digits only).",
        "メールアドレス全体 (taro@example.co.jp) か、HubSpot コンタクト ID (数字のみ) を入力してください。",
    ),
    "leads.filter": ("Handed off to sales", "営業への引き渡し"),
    "leads.filter_all": ("all leads", "すべて"),
    "leads.filter_yes": ("handed off", "引き渡し済み"),
    "leads.filter_no": ("not handed off", "未引き渡し"),
    "leads.empty": ("No leads found.", "該当するリードはありません。"),
    "leads.count": ("{n} lead(s)", "{n} 件"),
    "leads.excluded": ("excluded", "除外"),
    "leads.page": ("page {page} of {pages}", "{page} / {pages} ページ"),
    "leads.previous": ("← newer", "← 新しいリード"),
    "leads.next": ("older →", "古いリード →"),
    "button.show": ("Show", "表示"),
    "action.timeline": ("Timeline", "タイムライン"),
    "col.email": ("Email", "メールアドレス"),
    "col.name": ("Name", "氏名"),
    "col.company": ("Company", "会社名"),
    "col.handed_off": ("Handed off", "引き渡し"),
    "col.attempts": ("Attempts", "試行回数"),
    "col.failed_at": ("Failed at", "失敗日時"),
    "temperature.cold": ("cold", "コールド"),
    "temperature.warm": ("warm", "ウォーム"),
    "temperature.hot": ("hot", "ホット"),
    "activity.whitepaper_download": ("whitepaper download", "資料ダウンロード"),
    "activity.pricing_page_visit": ("pricing page visit", "料金ページ閲覧"),
    "activity.email_open": ("email open", "メール開封"),
    "activity.email_click": ("email link click", "メール内リンクのクリック"),
    "activity.seminar_attended": ("seminar attended", "セミナー参加"),
    "activity.product_page_visit": ("product page visit", "製品ページ閲覧"),
    "activity.unknown_type": (
        "Unknown type: no rule in handoff.yaml scores it, so it adds no points. Correct the type the sender "
        "uses, or add a behaviour rule for it in handoff.yaml.",
        "不明な種類です。handoff.yaml のどのルールにも該当しないため、加点されません。送信元の種類名を直すか、"
        "handoff.yaml にこの種類の行動ルールを追加してください。",
    ),
    # one lead's timeline
    "lead.title": ("Lead {name}", "リード {name}"),
    "lead.back": ("Back to the leads", "リード一覧に戻る"),
    "lead.jobtitle": ("Job title", "役職"),
    "lead.hubspot_id": ("HubSpot contact id", "HubSpot コンタクト ID"),
    "lead.handed_off": ("handed off {at} ({criterion})", "{at} に引き渡し済み ({criterion})"),
    "lead.not_handed_off": ("not handed off yet", "まだ引き渡していません"),
    "lead.summary": ("Latest decision", "最新の判定"),
    "lead.timeline": ("Timeline", "タイムライン"),
    "lead.timeline_help": (
        "Oldest first: changes received from HubSpot (and from the records created in Salesforce or kintone), "
        "marketing activities, each evaluation with its reasons, and each write with its result. "
        "Times are Japan time.",
        "古い順に、HubSpot (および Salesforce・kintone に作成したレコード) から受信した変更、マーケティング行動、"
        "各判定とその理由、各書き込みとその結果を表示します。時刻は日本時間です。",
    ),
    "lead.no_entries": ("Nothing recorded for this lead yet.", "このリードの記録はまだありません。"),
    "entry.event": ("received", "受信"),
    "entry.activity": ("activity", "行動"),
    "entry.decision": ("evaluation", "判定"),
    "entry.write": ("write", "書き込み"),
    "entry.sales": ("sales", "営業"),
    "entry.cycle": ("back to marketing", "マーケへ戻る"),
    "entry.sla": ("SLA", "SLA"),
    "lead.clocks": ("SLA clock", "SLA タイマー"),
    "lead.cycle": ("Handoff cycle", "引き渡しサイクル"),
    "sales.where": ("in {source} {object} {id}", "{source} の {object} {id} にて"),
    "cycle.closed": (
        "Handoff cycle {n} closed ({by}, reason: {reason}): the lead may be handed off again when it qualifies anew.",
        "引き渡しサイクル {n} が終了しました ({by}、理由: {reason})。新たに条件を満たせば再び引き渡されます。",
    ),
    "event.change": ("{source}: {change}", "{source}: {change}"),
    "event.echo": (
        "{source} change ignored: it is the echo of Bridge's own write-back, not a change by a person",
        "{source} の変更 (無視): Bridge 自身の書き戻しが返ってきたもので、人による変更ではありません",
    ),
    # The kinds of change every connector reports (connectors/base.py Change); older rows keep their own words.
    "change.property": ("property changed", "プロパティの変更"),
    "change.created": ("record created", "レコードの作成"),
    "change.updated": ("record changed", "レコードの変更"),
    "change.deleted": ("record deleted", "レコードの削除"),
    "change.restored": ("record restored", "レコードの復元"),
    "change.merged": ("records merged", "レコードの統合"),
    "change.erased": ("erased for privacy", "個人情報の削除"),
    "change.association": ("association changed", "関連付けの変更"),
    "change.status": ("status changed", "ステータスの変更"),
    "change.comment": ("comment added", "コメントの追加"),
    "change.propertyChange": ("property changed", "プロパティの変更"),
    "change.creation": ("contact created", "コンタクトの作成"),
    "change.deletion": ("contact deleted", "コンタクトの削除"),
    "change.snapshot": ("record changed", "レコードの変更"),
    "decision.handed_off": ("Handed off to sales by “{criterion}”",
                            "営業へ引き渡し (条件「{criterion}」を満たしたため)"),
    "decision.qualifies": (
        "Meets “{criterion}” (handed off at another time, or waiting for the HubSpot contact)",
        "条件「{criterion}」を満たしています (引き渡しは別の時点、または HubSpot コンタクト待ち)",
    ),
    "decision.not_yet": ("Not handed off: no handoff condition is met yet",
                         "引き渡しなし: まだどの引き渡し条件も満たしていません"),
    "decision.excluded": ("Excluded, never handed off: {reason}", "除外 (引き渡し対象外): {reason}"),
    "decision.score": ("Score {score} = {attributes} attributes + {behaviour} behaviour",
                       "スコア {score} = 属性 {attributes} + 行動 {behaviour}"),
    "decision.fired": ("Rules that gave points", "加点されたルール"),
    "decision.none_fired": ("No rule gave points.", "加点されたルールはありません。"),
    "decision.criteria": ("Handoff conditions (any one is enough)", "引き渡し条件 (いずれか 1 つを満たせば引き渡し)"),
    "decision.met": ("met", "達成"),
    "decision.missed": ("not met", "未達"),
    "decision.why_not": (
        "The ✗ lines are what is still missing for a handoff.",
        "✗ の行が、引き渡しまでに足りない条件です。",
    ),
    "decision.no_criteria": ("handoff.yaml defines no handoff conditions.",
                             "handoff.yaml に引き渡し条件がありません。"),
    "decision.raw": ("Summary as stored (English)", "保存された要約 (英語)"),
    "check.score": ("score {value} (needs {required} or more)", "スコア {value} (必要: {required} 以上)"),
    "check.stage": ("stage {value} (needs {required} or later)", "ステージ {value} (必要: {required} 以降)"),
    "check.activity": ("{activity}: {value} time(s) (needs {required} or more)",
                       "{activity}: {value} 回 (必要: {required} 回以上)"),
    # writes (outbox)
    "write.upsert": ("Create or update in {target}", "{target} へ登録・更新"),
    "write.writeback": ("Write the result back to HubSpot", "HubSpot へ結果を書き戻し"),
    "write.notify": ("Notify sales ({target})", "営業へ通知 ({target})"),
    "outcome.created": ("created", "新規作成"),
    "outcome.updated": ("updated", "更新"),
    "write.sent_to": ("sent to {channel}", "{channel} に送信"),
    "outbox.pending": ("waiting to be sent", "送信待ち"),
    "outbox.processing": ("sending", "送信中"),
    "outbox.done": ("done", "完了"),
    "outbox.dead": ("failed (needs action)", "失敗 (対応が必要)"),
    "outbox.reason": ("Reason", "原因"),
    "outbox.fields": ("Fields", "項目"),
    "outbox.attempts": ("{n} attempt(s)", "試行 {n} 回"),
    "outbox.finished": ("finished {at}", "{at} に終了"),
    "outbox.next_try": ("next try {at}", "次回の再試行 {at}"),
    "outbox.title": ("Failed writes (dead letters)", "送信失敗 (デッドレター)"),
    "outbox.intro": (
        "These writes to Salesforce, kintone, HubSpot or Slack were refused in a way that retrying alone "
        "will not fix (for example a required field is empty, or a value does not fit the field). Fix the "
        "mapping file or the data in HubSpot, then press Replay: the write is sent again with the current "
        "mapping and data.",
        "Salesforce・kintone・HubSpot・Slack への書き込みのうち、再試行だけでは解決しない理由 (必須項目が空、"
        "値が項目に合わない等) で拒否されたものです。マッピングファイルまたは HubSpot のデータを修正してから"
        "「再送」を押してください。その時点のマッピングとデータで送り直します。",
    ),
    "outbox.counts": (
        "Writes: {pending} waiting, {processing} sending, {done} done, {dead} failed.",
        "書き込み: 送信待ち {pending} 件・送信中 {processing} 件・完了 {done} 件・失敗 {dead} 件",
    ),
    "outbox.empty": (
        "No failed writes: every write went through or is still being tried.",
        "送信失敗はありません (すべて完了したか、再試行中です)。",
    ),
    "outbox.shown": ("Showing the newest {n} of {total}.", "全 {total} 件のうち新しい {n} 件を表示しています。"),
    "inbox.title": ("Failed events (dead letters)", "受信処理の失敗 (デッドレター)"),
    "inbox.intro": (
        "These deliveries from HubSpot, Salesforce, kintone or the activities API were received and kept, but "
        "processing them kept failing for the retry period (BRIDGE_RETRY_HOURS), usually because of a fault "
        "in Bridge or a connector that is not installed. Once that is fixed, press Replay: the event is "
        "processed again, in order with the other events of its record.",
        "HubSpot・Salesforce・kintone・行動 API から受信して保存したものの、再試行期間 (BRIDGE_RETRY_HOURS) を"
        "過ぎても処理に失敗し続けた配信です。多くは Bridge の不具合か、コネクタが未導入であることが原因です。"
        "原因を直してから「再送」を押すと、同じレコードの他のイベントと順序を保って再処理します。",
    ),
    "inbox.counts": (
        "Events: {pending} waiting, {processing} processing, {done} done, {dead} failed.",
        "イベント: 待機中 {pending} 件・処理中 {processing} 件・完了 {done} 件・失敗 {dead} 件",
    ),
    "inbox.empty": (
        "No failed events: every delivery was processed or is still being tried.",
        "処理に失敗したイベントはありません (すべて処理済みか、再試行中です)。",
    ),
    "inbox.event": ("Event", "イベント"),
    "inbox.record": ("Record", "レコード"),
    "button.replay": ("Replay", "再送"),
    "button.replay_all": ("Replay all {n}", "{n} 件すべて再送"),
    "flash.replayed": (
        "{n} write(s) queued again; the worker sends them within seconds. Check back here or on the lead's timeline.",
        "{n} 件を再送キューに戻しました。数秒以内に送信されます。"
        "結果はこの画面かリードのタイムラインで確認してください。",
    ),
    "flash.nothing_replayed": (
        "Nothing was replayed: the write is no longer failed, or the same write is already waiting for this lead.",
        "再送したものはありません (すでに失敗状態でないか、同じ書き込みがこのリードで送信待ちです)。",
    ),
    # SLA: the page, the sla.yaml preview, the lead's clock
    "sla.title": ("SLA follow-up", "SLA (営業フォローの期限)"),
    "sla.intro": (
        "How sales is keeping the follow-up promise: open clocks by owner, the leads due within the next business "
        "day, the leads past their first-touch deadline, and those met recently. Business time counts on the "
        "calendar of sla.yaml; times are in {zone}.",
        "営業フォローの約束が守られているかを示します。担当者ごとのタイマー、次の営業日までに期限が来るリード、"
        "初回連絡の期限を過ぎたリード、最近期限内に対応したリードを表示します。営業時間は sla.yaml の"
        "カレンダーで数え、時刻は {zone} です。",
    ),
    "sla.off": (
        "sla.yaml is not in the mappings folder, so no clock is timed. Copy it from `bridge init` into the folder "
        "to turn the SLA timers on.",
        "マッピングフォルダーに sla.yaml がないため、タイマーは動いていません。`bridge init` で作られる sla.yaml を"
        "フォルダーにコピーすると SLA タイマーが有効になります。",
    ),
    "sla.compliance": (
        "Compliance: {rate}% of clocks first touched in time ({in_time} of {clocks}, last {days} days).",
        "遵守率: {rate}% (直近 {days} 日の {clocks} 件のうち {in_time} 件が期限内に初回連絡)。",
    ),
    "sla.compliance_none": (
        "Compliance: no clock was touched, ended or due in the last {days} days.",
        "遵守率: 直近 {days} 日に初回連絡・終了・期限を迎えたタイマーはありません。",
    ),
    "sla.median": (
        "Median time to first touch: {value} business hours ({n} first touch(es), last {days} days).",
        "初回連絡までの時間 (中央値): {value} 営業時間 (直近 {days} 日の初回連絡 {n} 件)。",
    ),
    "sla.median_none": ("No first touch in the last {days} days.", "直近 {days} 日の初回連絡はありません。"),
    "sla.counts": (
        "Open clocks: {open} · due soon {due_soon} · breached {breached} · met in the last 7 days {recently_met}",
        "進行中のタイマー: {open} 件 · 期限間近 {due_soon} 件 · 期限切れ {breached} 件 · "
        "直近 7 日の期限内対応 {recently_met} 件",
    ),
    "sla.by_owner": ("By owner", "担当者別"),
    "sla.no_clocks": ("No open or recent clocks.", "進行中・最近のタイマーはありません。"),
    "sla.owner": ("Owner", "担当者"),
    "sla.no_owner": ("no owner", "担当者未設定"),
    "sla.open": ("Open", "進行中"),
    "sla.due_soon": ("Due soon", "期限間近"),
    "sla.breached": ("Breached", "期限切れ"),
    "sla.recently_met": ("Recently met", "最近の期限内対応"),
    "sla.due_soon_help": (
        "Not touched yet, first-touch deadline within the next business day (by {until}).",
        "まだ初回連絡がなく、次の営業日まで ({until} まで) に初回連絡の期限が来るリードです。",
    ),
    "sla.breached_help": (
        "Past the first-touch deadline without a touch: escalated as sla.yaml says. A call or email logged in "
        "Salesforce or kintone stops the clock.",
        "初回連絡がないまま期限を過ぎたリードです (sla.yaml のとおりエスカレーション済み)。Salesforce または "
        "kintone に電話・メールを記録するとタイマーが止まります。",
    ),
    "sla.recently_met_help": (
        "First touched in time, clock ended in the last 7 days.",
        "期限内に初回連絡があり、直近 7 日にタイマーが終了したリードです。",
    ),
    "sla.handed_off": ("Handed off", "引き渡し"),
    "sla.deadline": ("First-touch deadline", "初回連絡の期限"),
    "sla.left": ("Left", "残り"),
    "sla.overdue": ("Overdue by", "超過"),
    "sla.business_hours": ("{value} business hours", "{value} 営業時間"),
    "sla.shown": ("Showing {n} of {total}.", "全 {total} 件のうち {n} 件を表示しています。"),
    "sla.none_due_soon": ("Nothing due within the next business day.",
                          "次の営業日までに期限が来るリードはありません。"),
    "sla.none_breached": ("No open clock is past its deadline.", "期限を過ぎたタイマーはありません。"),
    "sla.none_recently_met": ("No clock ended in time in the last 7 days.",
                              "直近 7 日に期限内で終了したタイマーはありません。"),
    "sla.first_touch_after": ("First touch after", "初回連絡までの時間"),
    "sla.first_touch_at": ("First touch", "初回連絡"),
    "sla.follow_ups": ("Unanswered attempts", "不通の回数"),
    "sla.ended": ("Ended", "終了"),
    "sla.ended_by": ("by {by}", "終了理由: {by}"),
    "sla.no_policy": ("no policy applies", "該当するポリシーなし"),
    "sla.open_clock": ("being timed", "計測中"),
    "sla.in_time": ("in time", "期限内"),
    "sla.late": ("after the deadline", "期限後"),
    "sla_state.waiting": ("waiting for the first touch", "初回連絡待ち"),
    "sla_state.breached": ("breached", "期限切れ"),
    "sla_state.following_up": ("following up", "フォロー中"),
    "sla_state.met": ("met", "期限内に対応"),
    "sla_state.late": ("late", "期限後に対応"),
    "sla_state.untimed": ("not timed", "計測対象外"),
    "sla_unit.days": ("{n} business day(s)", "{n} 営業日"),
    "sla_unit.hours": ("{n} business hour(s)", "{n} 営業時間"),
    "sla_unit.minutes": ("{n} business minute(s)", "{n} 営業分"),
    "sla_unit.seconds": ("{n} business second(s)", "{n} 営業秒"),
    "sla_to.owner": ("owner", "担当者"),
    "sla_to.manager": ("manager", "上長"),
    "sla_to.channel": ("Slack channel", "Slack チャンネル"),
    "sla_segment.all": ("every lead", "すべてのリード"),
    "sla_segment.temperature": ("{value} leads", "{value} のリード"),
    "sla_segment.criterion": ("leads handed off by “{value}”", "条件「{value}」で引き渡したリード"),
    "sla.preview_help": (
        "Each policy's first-touch deadline and reminders for these handoff times, in the calendar's time zone "
        "({zone}). The first policy that applies to a lead is used.",
        "引き渡し日時ごとの、各ポリシーの初回連絡の期限とリマインドの日時です (カレンダーのタイムゾーン {zone})。"
        "リードには最初に当てはまるポリシーが使われます。",
    ),
    "sla.starts_at_once": ("Business hours: the clock starts at once.", "営業時間内のため、すぐに計測を始めます。"),
    "sla.starts": ("Outside business hours: the clock starts at {at}.", "営業時間外のため、{at} から計測を始めます。"),
    "sla.policy": ("Policy", "ポリシー"),
    "sla.applies_to": ("Applies to", "対象"),
    "sla.first_touch": ("First touch within", "初回連絡の期限"),
    "sla.reminders": ("Reminders", "リマインド"),
    "sla.follow_up": ("Follow-up and escalation", "フォローとエスカレーション"),
    "sla.reminder_before": ("{before} before, to {to}", "{before} 前、{to} へ"),
    "sla.no_reminders": ("no reminder", "リマインドなし"),
    "sla.follow_up_rule": (
        "after {attempts} unanswered attempts at least {spacing} apart: back to marketing ({reason})",
        "{spacing} 以上の間隔で {attempts} 回不通ならマーケに戻す (理由: {reason})",
    ),
    "sla.no_follow_up": ("never recycled", "マーケに戻さない"),
    "sla.escalation": ("on breach: {to}", "期限切れ時の通知先: {to}"),
    "sla.closed_days": ("Closed days of {year} (weekends aside)", "{year} 年の休業日 (土日を除く)"),
    "sla.day": ("Day", "日付"),
    "sla.reason": ("Why closed", "理由"),
    "sla.closed_count": ("{n} day(s) closed besides weekends.", "土日のほかに {n} 日休業します。"),
    "sla.no_closed_days": ("No closed days besides weekends.", "土日のほかに休業日はありません。"),
    "sla_log.started": ("SLA clock started", "SLA タイマー開始"),
    "sla_log.reminder": ("Reminder sent", "リマインド"),
    "sla_log.breach": ("First-touch deadline missed: escalated", "初回連絡の期限切れ (エスカレーション)"),
    "sla_log.touched": ("First touch by sales", "営業の初回連絡"),
    "sla_log.recycle": ("Given back to marketing (unanswered)", "不通のためマーケに戻しました"),
    "sla_log.met": ("SLA clock ended: met", "SLA タイマー終了 (期限内)"),
    "sla_log.late": ("SLA clock ended: late", "SLA タイマー終了 (期限後)"),
    "sla_log.deadline_moved": ("Deadline moved", "期限の変更"),
    "sla_log.started_detail": ("Policy {policy}: first touch within {first_touch}, by {deadline}",
                               "ポリシー {policy}: {first_touch} 以内、{deadline} までに初回連絡"),
    "sla_log.reminder_detail": ("{left} business hours left before {deadline}; to {to}",
                                "期限 {deadline} まで残り {left} 営業時間。通知先: {to}"),
    "sla_log.breach_detail": ("No first touch by {deadline}; told {to}",
                              "{deadline} までに初回連絡がありませんでした。通知先: {to}"),
    "sla_log.reassigned": ("Reassigned in {systems}", "{systems} で担当者を変更しました"),
    "sla_log.touched_detail": ("after {after} business hours", "引き渡しから {after} 営業時間後"),
    "sla_log.recycle_detail": ("after {attempts} unanswered attempts (reason: {reason})",
                               "{attempts} 回不通のため (理由: {reason})"),
    "sla_log.ended_detail": ("ended by: {by}", "終了のきっかけ: {by}"),
    "sla_log.moved_detail": ("from {old} to {new}: the SLA policies or the calendar changed",
                             "{old} から {new} へ (SLA ポリシーまたはカレンダーの変更)"),
    "sla_log.notified": ("people were told {at}", "{at} に通知済み"),
    "sla_log.to_notify": ("notice waiting to be sent", "通知の送信待ち"),
    # reconciliation (bridge reconcile): run history, a run's report, the lead page's line
    "reconcile.title": ("Reconciliation", "突き合わせ"),
    "reconcile.intro": (
        "Each night Bridge compares HubSpot with Salesforce and kintone through the mapping files and lists what "
        "differs (drift). A plan changes nothing; a run with --doit repairs what the mappings decide, through the "
        "usual writes, and leaves the rest for a person. Open a run to read its report.",
        "Bridge は毎晩、マッピングファイルに沿って HubSpot と Salesforce・kintone の内容を突き合わせ、"
        "食い違い (差分) を一覧にします。計画だけの実行では何も変更しません。"
        "--doit を付けた実行では、マッピングで決まるものを通常の書き込みで修復し、"
        "それ以外は人の判断に残します。実行を開くとレポートを確認できます。",
    ),
    "reconcile.empty": (
        "No reconciliation has run yet. It runs on the schedule BRIDGE_RECONCILE_SCHEDULE (nightly at 02:00 by "
        "default), or when someone runs `bridge reconcile` on the server.",
        "突き合わせはまだ実行されていません。BRIDGE_RECONCILE_SCHEDULE の予定 (既定は毎晩 2:00) で実行されるか、"
        "サーバーで `bridge reconcile` を実行すると始まります。",
    ),
    "reconcile.no_more": ("No older runs.", "これより古い実行はありません。"),
    "reconcile.run": ("Run", "実行"),
    "reconcile.run_title": ("Reconciliation #{id}", "突き合わせ #{id}"),
    "reconcile.back": ("← all runs", "← 実行履歴に戻る"),
    "reconcile.open": ("Report", "レポート"),
    "reconcile.started": ("Started", "開始"),
    "reconcile.finished": ("Finished", "終了"),
    "reconcile.mode": ("Mode", "範囲"),
    "reconcile.since": ("(records changed since {at})", "({at} 以降に変更されたレコード)"),
    "reconcile.trigger": ("Started by", "実行のきっかけ"),
    "reconcile.share": ("Share of records --doit changes", "--doit で変更するレコードの割合"),
    "reconcile.compared": ("Records compared", "比較したレコード"),
    "reconcile.nothing_compared": ("No records were compared.", "比較したレコードはありません。"),
    "reconcile.found": ("Drift found", "見つかった差分"),
    "reconcile.repaired": ("Repaired", "修復"),
    "reconcile.needs_person": ("Needs a person", "要判断"),
    "reconcile.newer": ("← newer runs", "← 新しい実行"),
    "reconcile.older": ("older runs →", "古い実行 →"),
    "reconcile.page": ("page {page}", "{page} ページ目"),
    "reconcile.download_csv": ("Download CSV (Excel)", "CSV をダウンロード (Excel 用)"),
    "reconcile.download_json": ("Download JSON", "JSON をダウンロード"),
    "reconcile.summary": ("Summary", "概要"),
    "reconcile.system": ("System", "システム"),
    "reconcile.records": ("Records", "レコード数"),
    "reconcile.calls": ("API calls", "API 呼び出し"),
    "reconcile.by_kind": ("Drift by kind", "種類別の差分"),
    "reconcile.trend_help": (
        "The change is counted against run #{run} of {at}, the previous run of the same mode that finished reading.",
        "増減は、同じ範囲で最後まで読み取った前回の実行 #{run} ({at}) との比較です。",
    ),
    "reconcile.no_trend": (
        "No earlier run of the same mode to compare with yet.", "比較できる同じ範囲の前回の実行はまだありません。",
    ),
    "reconcile.count": ("Found", "件数"),
    "reconcile.previous": ("Previous run", "前回"),
    "reconcile.change": ("Change", "増減"),
    "reconcile.history": ("Drift found in recent runs", "最近の実行で見つかった差分"),
    "reconcile.no_items": ("This run found no drift.", "この実行で見つかった差分はありません。"),
    "reconcile.record": ("Record", "レコード"),
    "reconcile.field": ("Field", "項目"),
    "reconcile.actual": ("Value in that record", "そのレコードの値"),
    "reconcile.expected": ("Value the other side says", "相手側の値"),
    "reconcile.action": ("What it means and what to do", "内容と対応"),
    "reconcile.lead_id": ("lead {id}", "リード {id}"),
    "reconcile.no_lead": ("no lead", "リードなし"),
    "reconcile.previous_items": ("← previous", "← 前へ"),
    "reconcile.next_items": ("next →", "次へ →"),
    "reconcile.lead_drift": ("Reconciliation #{run} ({at}) found:", "突き合わせ #{run} ({at}) で見つかった差分:"),
    "reconcile.lead_drift_open": ("see the report", "レポートを見る"),
    "reconcile.lead_drift_repaired": ("repaired", "修復済み"),
    "reconcile.lead_drift_person": ("a person decides", "要判断"),
    # errors
    "error.back": ("Back to the mapping files", "マッピングファイル一覧に戻る"),
    "error.not_configured.title": ("The admin pages are off", "管理画面は無効になっています"),
    "error.not_configured": (
        "Set BRIDGE_ADMIN_PASSWORD (at least 16 characters) in the service's environment and restart "
        "Bridge to turn on the admin pages.",
        "管理画面を使うには、サービスの環境変数 BRIDGE_ADMIN_PASSWORD (16 文字以上) を設定して "
        "Bridge を再起動してください。",
    ),
    "error.csrf.title": ("The form could not be accepted", "フォームを受け付けられませんでした"),
    "error.csrf": (
        "The form's security token was missing or out of date (for example after logging in again in "
        "another tab, or because the browser did not send the session cookie). Go back, reload the "
        "page and send the form again. Outside BRIDGE_ENV=development the cookie is only sent over "
        "HTTPS.",
        "フォームのセキュリティトークンがないか、古くなっています (別のタブで再ログインした、"
        "ブラウザがセッション Cookie を送らなかった等)。前の画面に戻り、ページを再読み込みしてから"
        "もう一度送信してください。BRIDGE_ENV=development 以外では Cookie は HTTPS でのみ送られます。",
    ),
    "error.blocked.title": ("Too many failed logins", "ログインの失敗が多すぎます"),
    "error.blocked": (
        "{limit} failed logins from your address within {minutes} minutes. Wait {minutes} minutes, "
        "then try again. If you forgot the password, ask the engineer who runs Bridge "
        "(setting BRIDGE_ADMIN_PASSWORD).",
        "このアドレスから {minutes} 分以内に {limit} 回ログインに失敗しました。{minutes} 分待ってから"
        "もう一度お試しください。パスワードを忘れた場合は Bridge の運用担当エンジニアに確認してください "
        "(設定 BRIDGE_ADMIN_PASSWORD)。",
    ),
    "error.blocked_all.title": ("Logins are paused for everyone", "すべてのログインを一時停止しています"),
    "error.blocked_all": (
        "{limit} failed logins from many addresses within {minutes} minutes: someone may be guessing the "
        "password, so logins are paused for everyone. Wait {minutes} minutes, then try again; admins who are "
        "already logged in can keep working. If this keeps happening, tell the engineer who runs Bridge "
        "(the audit log lists the addresses).",
        "{minutes} 分以内に複数のアドレスから {limit} 回ログインに失敗しました。パスワードを推測されている"
        "おそれがあるため、すべてのログインを一時停止しています。{minutes} 分待ってからもう一度お試しください。"
        "ログイン済みの管理者はそのまま作業を続けられます。繰り返し起きる場合は Bridge の運用担当エンジニアに"
        "連絡してください (操作ログにアドレスが記録されています)。",
    ),
    "error.not_found.title": ("Not found", "見つかりません"),
    "error.no_file": (
        "There is no mapping file named {name}. Pick one from the list.",
        "{name} というマッピングファイルはありません。一覧から選んでください。",
    ),
    "error.no_version": (
        "{file} has no version {version}. Pick one from the history.",
        "{file} に第 {version} 版はありません。履歴から選んでください。",
    ),
    "error.no_lead": (
        "There is no lead with id {id}. Pick one from the leads list.",
        "ID {id} のリードはありません。リード一覧から選んでください。",
    ),
    "error.no_run": (
        "There is no reconciliation run #{id}. Pick one from the run history.",
        "突き合わせの実行 #{id} はありません。実行履歴から選んでください。",
    ),
    "error.http.title": ("Request refused", "リクエストを処理できません"),
    "error.http": ("{code} {name}: {description}", "{code} {name}: {description}"),
}


def choose_language(request: Request) -> str:
    """ja when the browser prefers Japanese (ja, ja-JP …) over English, en otherwise."""
    return request.accept_languages.best_match(LANGUAGES, default="en") or "en"


class Translator:
    """t("key", name=value) in one language; an unknown key shows itself, so a gap is visible."""

    def __init__(self, language: str):
        self.language = language if language in LANGUAGES else "en"
        self._index = LANGUAGES.index(self.language)

    def __call__(self, key: str, **values: object) -> str:
        pair = MESSAGES.get(key)
        if pair is None:
            return key
        return pair[self._index].format(**values)  # always: literal braces are written {{ }}

    def has(self, key: str) -> bool:
        return key in MESSAGES

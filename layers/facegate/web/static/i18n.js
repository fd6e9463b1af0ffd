/**
 * UI strings of the visitor page and the kiosk, in English and Korean, and the helpers that apply them.
 *
 * Public API:
 *   STRINGS                      {en: {key: text}, ko: {key: text}} — every key exists in both languages.
 *   LANGUAGES                    ['ko', 'en']
 *   pickLanguage(languages)      'ko' when the first language tag that is ko* or en* is Korean, else 'en'.
 *   initialLanguage(storageKey)  the saved choice (localStorage) or pickLanguage(navigator.languages).
 *   t(lang, key, vars)           the text with {name} placeholders filled; the key itself if unknown.
 *   applyTranslations(lang, root)  fills [data-i18n] (textContent), [data-i18n-aria-label],
 *                                [data-i18n-alt], [data-i18n-placeholder] and sets <html lang>.
 *   localized(lang, value)       picks value[lang] from {en, ko} objects (recursively in arrays); strings as is.
 *   formatDateTime(lang, iso)    a local, human date and time; the input unchanged when it is not a date.
 *
 * Korean: 합니다체 for notices and explanations, polite requests (~해 주세요) for short instructions.
 */

export const LANGUAGES = ['ko', 'en'];

export const STRINGS = {
  en: {
    'lang.switch': '한국어',
    'lang.switch_label': '한국어 (change the language to Korean)',
    'app.name': 'facegate',
    'common.loading': 'Loading…',
    'common.retry': 'Try again',

    'reg.title': 'Visitor pre-registration',
    'reg.load_failed': 'The page could not load your invitation.',

    'notice.heading': 'Before you start: how your face data is used',
    'notice.summary': 'In short',
    'notice.full_text_only': 'The full notice below explains what is stored, why, for how long, who is responsible and your rights.',
    'notice.site': 'Place',
    'notice.window': 'Your visit',
    'notice.controller': 'Who is responsible (data controller)',
    'notice.purpose': 'Why',
    'notice.data_stored': 'What is stored',
    'notice.not_stored': 'What is never stored',
    'notice.retention': 'How long it is kept',
    'notice.rights': 'Your rights',
    'notice.refusal': 'If you do not agree',
    'notice.third_parties': 'Who else gets it',
    'notice.biometric': 'Biometric data (sensitive)',
    'notice.full_text': 'Full notice',
    'notice.version': 'Notice version {version}',
    'notice.window_value': '{from} to {until}',
    'consent.label':
      'I have read this notice. I agree that a face template is made from my photos and used to let me in during my visit.',
    'consent.biometric_label':
      'I separately agree to the processing of my biometric data (the face template, sensitive data) as described above.',
    'consent.withdraw_hint': 'You can withdraw at any time with the “Delete my data” button on this page.',
    'consent.submit': 'I agree — continue',
    'consent.saving': 'Saving your consent…',
    'consent.version_changed': 'The notice has changed. Please read it again before you agree.',

    'capture.heading': 'Take three selfies',
    'capture.reenroll': 'The doors now use a new face check. Please take your selfies again; your invitation stays the same.',
    'capture.intro':
      'You take three photos from slightly different angles. They are made smaller on this phone and sent once. Only a face template is kept, never the photos.',
    'capture.start': 'Turn on the camera',
    'capture.starting': 'Starting the camera…',
    'capture.step': 'Photo {n} of 3',
    'capture.step_1': 'Look straight at the camera',
    'capture.step_2': 'Turn your head slightly to the left',
    'capture.step_3': 'Turn your head slightly to the right',
    'capture.step_4': 'Optional photo 4: look straight again, with different light or distance',
    'capture.step_5': 'Optional photo 5: look straight, tilting your chin slightly down',
    'capture.step_optional': 'Optional photo {n} of 5',
    'capture.add_photo': 'Add another photo (optional, helps at busy doors)',
    'capture.add_photo_hint': 'Three photos are enough. One or two more help the door recognise you when many visitors are expected.',
    'capture.remove_label': 'Remove optional photo {n}',
    'capture.remove': 'Remove',
    'capture.all_taken': 'All three photos are taken. Check them and send.',
    'capture.guide_hint': 'Fit your face inside the oval, in good light.',
    'capture.guide_label': 'Camera preview with an oval face guide',
    'capture.shoot': 'Take photo',
    'capture.timer': '3-second timer',
    'capture.countdown_label': 'Photo in {n}',
    'capture.photos': 'Your photos',
    'capture.thumb_alt': 'Photo {n}',
    'capture.slot_empty': 'Photo {n}: not taken yet',
    'capture.retake': 'Retake',
    'capture.retake_label': 'Retake photo {n}',
    'capture.restart': 'Start over',
    'capture.send': 'Send the photos',
    'capture.sending': 'Checking your photos…',
    'capture.use_files': 'Use photos from this phone instead',
    'capture.files_label': 'Choose or take 3 photos of your face',
    'capture.files_hint': 'Three photos are needed, as with the camera: one looking straight, one turned slightly left, one turned slightly right.',
    'capture.files_need_more': 'Three photos are needed; {n} of 3 chosen so far.',
    'capture.file_unreadable': 'One file could not be read as a photo. Please choose another one.',
    'capture.files_extra': 'Only five photos are used; the extra ones were left out.',
    'camera.unavailable':
      'The camera could not be started on this device. You can choose or take photos with the button below.',
    'camera.denied':
      'Camera access was not allowed. You can allow it in your browser settings, or choose or take photos with the button below.',
    'camera.in_use': 'The camera is being used by another app. Close it and try again, or use the button below.',

    'result.enrolled': 'You are registered.',
    'result.erased': 'Your data has been deleted. This link can no longer be used.',

    'enrolled.heading': 'You are registered',
    'enrolled.text': 'At the door, look at the camera. If the kiosk asks for your code, hold up the QR code below.',
    'enrolled.window': 'Your invitation is valid from {from} to {until}.',
    'claim.heading': 'Your claim code',
    'claim.hint': 'Show this at the door if the camera does not recognise you.',
    'claim.qr_label': 'QR code of your claim code {code}',
    'handoff.heading': 'Continue on your phone',
    'handoff.text': 'Your selfies are best taken with a phone: scan this code with its camera to open this page there.',
    'handoff.qr_label': 'QR code of this page’s link',
    'claim.code_label': 'Claim code',
    'claim.brightness': 'At the door: turn your screen brightness up and hold the QR code towards the camera, next to your face.',
    'claim.not_available': 'The claim code cannot be shown on this page any more.',

    'delete.heading': 'Your data',
    'delete.button': 'Delete my data',
    'delete.confirm_text':
      'This deletes your face template, your consent record and your claim code at once. You will no longer be able to enter with your face. Do you want to continue?',
    'delete.confirm': 'Yes, delete my data',
    'delete.cancel': 'Cancel',
    'delete.deleting': 'Deleting…',

    'erased.heading': 'Your data has been deleted',
    'erased.text': 'Your data for this invitation has been deleted. This link can no longer be used to register.',
    'erased.receipt': 'Deletion receipt',
    'erased.at': 'Deleted at',
    'erased.items': 'What was deleted',
    'erased.items_none': 'Nothing was stored any more.',
    'item.template': 'Face template',
    'item.consent': 'Consent record',
    'item.claim_code': 'Claim code',
    'item.display_name': 'Name',
    'item.email': 'E-mail address',
    'item.invite': 'Invitation',
    'item.idempotency': 'Upload record',

    'expired.heading': 'This invitation has expired',
    'expired.text': 'This link can no longer be used. Face data of an ended invitation is deleted automatically.',
    'revoked.heading': 'This invitation was cancelled',
    'revoked.text': 'The host or an administrator cancelled this invitation, and its data was deleted.',
    'invalid.heading': 'This link does not work',
    'invalid.text': 'Please check the link in your invitation, or ask your host to send a new one.',

    'error.no_face': 'We could not find a face. Make sure your whole face is inside the oval and try again.',
    'error.multiple_faces': 'More than one face is visible. Make sure only you are in the photos.',
    'error.face_too_small': 'Your face is too small in the photo. Hold the phone a little closer.',
    'error.too_blurry': 'A photo is blurred. Hold the phone still and try again.',
    'error.too_dark': 'A photo is too dark. Move to a brighter place.',
    'error.overexposed': 'A photo is too bright. Avoid strong light shining on you or from behind you.',
    'error.pose_too_far': 'Your head is turned too far. Keep your face towards the camera and turn only slightly.',
    'error.inconsistent_faces': 'The photos seem to show different people. Take all three photos of yourself.',
    'error.invalid_request': 'The request was not accepted. Please reload the page and try again.',
    'error.empty_image': 'A photo was empty. Please take it again.',
    'error.corrupt_image': 'A photo could not be read. Please take it again.',
    'error.image_too_large': 'A photo has too many pixels. Please take it again with the camera on this page.',
    'error.unsupported_image_format': 'This photo format is not supported. Please use JPEG, PNG, WebP or HEIC photos.',
    'error.payload_too_large': 'The photos are too large to send (5 MB in all). Please take them again.',
    'error.unsupported_media_type': 'The photos were sent in a form the server does not accept. Please reload the page.',
    'error.consent_required': 'Please read the notice and give your consent first.',
    'error.consent_version_mismatch': 'The notice has changed. Please read it again before you agree.',
    'error.conflict': 'Your registration changed in the meantime. Please reload the page.',
    'error.idempotency_conflict': 'These photos were already sent differently. Please take them again.',
    'error.invite_expired': 'This invitation has expired.',
    'error.invite_revoked': 'This invitation was cancelled.',
    'error.invite_erased': 'You deleted your data; this link can no longer be used.',
    'error.invalid_token': 'This link is not valid.',
    'error.unauthorized': 'This request is not allowed.',
    'error.forbidden': 'This action is not allowed.',
    'error.not_found': 'This invitation was not found.',
    'error.rate_limited': 'Too many attempts. Please wait {seconds} seconds and try again.',
    'error.rate_limited_short': 'Too many attempts. Please wait a moment and try again.',
    'error.service_unavailable': 'The service is busy. Please try again in a moment.',
    'error.internal_error': 'Something went wrong on our side. Please try again.',
    'error.network': 'There is no connection to the server. Check your internet connection and try again.',
    'error.unknown': 'Unexpected error ({code}). Please try again.',

    'kiosk.title': 'Door kiosk',
    'kiosk.settings': 'Settings',
    'kiosk.settings_heading': 'Terminal settings',
    'kiosk.settings_intro':
      'Enter these once; they are kept in this browser. The secret is never shown again.',
    'kiosk.api_url': 'API address (empty = this server)',
    'kiosk.door_id': 'Door id',
    'kiosk.key_id': 'Terminal key id',
    'kiosk.secret': 'Terminal secret',
    'kiosk.secret_saved': 'A secret is saved. Leave empty to keep it.',
    'kiosk.auto': 'Check automatically',
    'kiosk.liveness': 'Head-turn check (needed for face-only entry at high-security sites)',
    'kiosk.sideways': 'Sideways turns only (weaker: no up or down)',
    'challenge.straight': 'Look straight at the camera',
    'challenge.left': 'Turn your head to your left',
    'challenge.right': 'Turn your head to your right',
    'challenge.up': 'Tilt your head up',
    'challenge.down': 'Tilt your head down',
    'kiosk.interval': 'Every (seconds)',
    'kiosk.save': 'Save settings',
    'kiosk.clear': 'Forget settings',
    'kiosk.saved': 'Settings saved.',
    'kiosk.cleared': 'Settings removed from this browser.',
    'kiosk.settings_missing': 'Enter the door id, key id and secret in the settings first.',
    'kiosk.settings_invalid_url': 'The API address is not a valid http(s) URL.',
    'kiosk.camera_start': 'Start camera',
    'kiosk.camera_label': 'Door camera preview',
    'kiosk.prompt': 'Please look at the camera and press the button. Have a QR code? Hold it up next to your face.',
    'kiosk.prompt_auto':
      'Please look at the camera. Checking every {seconds} seconds. Have a QR code? Hold it up next to your face.',
    'kiosk.qr_seen': 'QR code seen. Keep looking at the camera.',
    'kiosk.verify': 'Check my face',
    'kiosk.checking': 'Checking…',
    'kiosk.grant': 'GRANTED',
    'kiosk.deny': 'DENIED',
    'kiosk.error': 'ERROR',
    'kiosk.wait': 'PLEASE WAIT',
    'next.grant': 'Welcome. Please go in.',
    'next.show_code':
      'Your face alone did not confirm you as a registered visitor. Please hold the QR code from your registration page up to the camera, next to your face, or type the code below.',
    'next.retry': 'Your face could not be seen clearly. Please look straight at the camera and try again.',
    'next.see_reception': 'Please see reception.',
    'hint.lower_mask': 'Please lower your mask',
    'claimui.offer': 'No QR code at hand? Type the 8 characters shown on your registration page:',
    'claimui.input': 'Claim code (8 characters)',
    'claimui.send': 'Check with code',
    'claimui.invalid': 'Please enter the 8 characters of your claim code.',
    'claimui.cancel': 'Cancel',
    'kerror.missing_signature': 'The request was not signed (a signature header is missing). Check the settings.',
    'kerror.unknown_key': 'This terminal key id is unknown. Check the key id in the settings.',
    'kerror.key_revoked': 'This terminal key has been revoked. Ask an administrator for a new key.',
    'kerror.clock_skew': 'This device’s clock is more than 60 seconds off. Correct the date and time.',
    'kerror.nonce_reused': 'The request was refused as a replay. Please try again.',
    'kerror.invalid_signature': 'The signature does not match. Check the secret in the settings.',
    'kerror.door_not_allowed': 'This terminal may not check this door. Check the door id in the settings.',
    'kerror.cooling_down': 'Too many denied attempts. Please wait {seconds} s.',
    'kerror.rate_limited': 'Too many requests. Please wait {seconds} s.',
    'kerror.wait': 'Please wait {seconds} s.',
    'kerror.crypto_unavailable':
      'This browser cannot sign requests here (WebCrypto needs https or localhost).',
  },
  ko: {
    'lang.switch': 'English',
    'lang.switch_label': 'English (영어로 보기)',
    'app.name': 'facegate',
    'common.loading': '불러오는 중입니다…',
    'common.retry': '다시 시도',

    'reg.title': '방문자 사전 등록',
    'reg.load_failed': '초대 정보를 불러오지 못했습니다.',

    'notice.heading': '시작하기 전에: 얼굴 정보 처리 안내',
    'notice.summary': '요약',
    'notice.full_text_only': '아래 안내문 전문에서 저장하는 정보, 처리 목적, 보관 기간, 개인정보 처리자, 정보주체의 권리를 확인하실 수 있습니다.',
    'notice.site': '방문 장소',
    'notice.window': '방문 기간',
    'notice.controller': '개인정보 처리자',
    'notice.purpose': '처리 목적',
    'notice.data_stored': '저장하는 정보',
    'notice.not_stored': '저장하지 않는 정보',
    'notice.retention': '보관 기간',
    'notice.rights': '정보주체의 권리',
    'notice.refusal': '동의를 거부할 권리와 불이익',
    'notice.third_parties': '제3자 제공',
    'notice.biometric': '생체인식정보(민감정보)',
    'notice.full_text': '안내문 전문',
    'notice.version': '안내문 버전 {version}',
    'notice.window_value': '{from}부터 {until}까지',
    'consent.label':
      '위 안내를 읽었으며, 방문 기간 동안 출입 확인을 위해 제 사진으로 얼굴 특징 정보(템플릿)를 만들어 이용하는 데 동의합니다.',
    'consent.biometric_label': '위 안내에 따른 생체인식정보(얼굴 템플릿, 민감정보)의 처리에 별도로 동의합니다.',
    'consent.withdraw_hint': '이 페이지의 ‘내 정보 삭제’ 버튼으로 언제든지 동의를 철회할 수 있습니다.',
    'consent.submit': '동의하고 계속하기',
    'consent.saving': '동의 내용을 저장하고 있습니다…',
    'consent.version_changed': '안내문이 변경되었습니다. 다시 읽어 보신 후 동의해 주세요.',

    'capture.heading': '셀카 3장 촬영',
    'capture.reenroll': '출입문의 얼굴 확인 방식이 바뀌었습니다. 셀카를 다시 찍어 주세요. 초대는 그대로 유지됩니다.',
    'capture.intro':
      '조금씩 다른 각도로 사진 3장을 찍습니다. 사진은 이 휴대전화에서 크기를 줄인 뒤 한 번만 전송하며, 사진은 보관하지 않고 얼굴 특징 정보만 보관합니다.',
    'capture.start': '카메라 켜기',
    'capture.starting': '카메라를 켜고 있습니다…',
    'capture.step': '3장 중 {n}번째 사진',
    'capture.step_1': '카메라를 정면으로 바라봐 주세요',
    'capture.step_2': '고개를 왼쪽으로 살짝 돌려 주세요',
    'capture.step_3': '고개를 오른쪽으로 살짝 돌려 주세요',
    'capture.step_4': '선택 사진 4: 조명이나 거리를 바꿔 다시 정면으로 바라봐 주세요',
    'capture.step_5': '선택 사진 5: 정면을 보며 턱을 살짝 내려 주세요',
    'capture.step_optional': '선택 사진 5장 중 {n}번째',
    'capture.add_photo': '사진 더 추가하기 (선택 사항, 붐비는 출입문에서 도움이 됩니다)',
    'capture.add_photo_hint': '사진은 3장이면 충분합니다. 방문객이 많을 때는 1~2장을 더 찍으면 출입문이 더 잘 알아봅니다.',
    'capture.remove_label': '선택 사진 {n}번 빼기',
    'capture.remove': '빼기',
    'capture.all_taken': '사진 3장을 모두 찍었습니다. 확인하신 후 보내 주세요.',
    'capture.guide_hint': '밝은 곳에서 얼굴을 타원 안에 맞춰 주세요.',
    'capture.guide_label': '타원형 얼굴 안내선이 있는 카메라 화면',
    'capture.shoot': '사진 찍기',
    'capture.timer': '3초 타이머',
    'capture.countdown_label': '{n}초 후 촬영',
    'capture.photos': '찍은 사진',
    'capture.thumb_alt': '{n}번 사진',
    'capture.slot_empty': '{n}번 사진: 아직 찍지 않음',
    'capture.retake': '다시 찍기',
    'capture.retake_label': '{n}번 사진 다시 찍기',
    'capture.restart': '처음부터 다시',
    'capture.send': '사진 보내기',
    'capture.sending': '사진을 확인하고 있습니다…',
    'capture.use_files': '대신 휴대전화의 사진 사용하기',
    'capture.files_label': '얼굴 사진 3장을 선택하거나 촬영해 주세요',
    'capture.files_hint': '카메라와 마찬가지로 사진 3장이 필요합니다. 정면 사진 1장, 왼쪽으로 살짝 돌린 사진 1장, 오른쪽으로 살짝 돌린 사진 1장을 골라 주세요.',
    'capture.files_need_more': '사진 3장이 필요합니다. 지금까지 {n}장을 골랐습니다.',
    'capture.file_unreadable': '사진으로 읽을 수 없는 파일이 있습니다. 다른 파일을 선택해 주세요.',
    'capture.files_extra': '사진은 5장까지만 사용하며, 나머지는 제외했습니다.',
    'camera.unavailable': '이 기기에서 카메라를 켤 수 없습니다. 아래 버튼으로 사진을 선택하거나 촬영할 수 있습니다.',
    'camera.denied':
      '카메라 사용이 허용되지 않았습니다. 브라우저 설정에서 허용하시거나, 아래 버튼으로 사진을 선택하거나 촬영할 수 있습니다.',
    'camera.in_use': '다른 앱이 카메라를 사용하고 있습니다. 그 앱을 닫고 다시 시도하시거나 아래 버튼을 이용해 주세요.',

    'result.enrolled': '등록되었습니다.',
    'result.erased': '정보가 삭제되었습니다. 이 링크는 더 이상 사용할 수 없습니다.',

    'enrolled.heading': '등록이 완료되었습니다',
    'enrolled.text': '출입문에서 카메라를 바라봐 주세요. 키오스크가 코드를 요청하면 아래 QR 코드를 비춰 주세요.',
    'enrolled.window': '초대 유효 기간은 {from}부터 {until}까지입니다.',
    'claim.heading': '본인 확인 코드',
    'claim.hint': '카메라가 본인을 알아보지 못하면 출입문에서 이 코드를 보여 주세요.',
    'claim.qr_label': '본인 확인 코드 {code}의 QR 코드',
    'handoff.heading': '휴대폰에서 계속하기',
    'handoff.text': '셀피는 휴대폰으로 찍는 것이 좋습니다. 휴대폰 카메라로 이 코드를 스캔하면 이 페이지가 휴대폰에서 열립니다.',
    'handoff.qr_label': '이 페이지 링크의 QR 코드',
    'claim.code_label': '본인 확인 코드',
    'claim.brightness': '출입문에서: 화면 밝기를 높이고 QR 코드를 얼굴 옆에서 카메라 쪽으로 들어 주세요.',
    'claim.not_available': '이 페이지에서는 본인 확인 코드를 더 이상 표시할 수 없습니다.',

    'delete.heading': '내 정보',
    'delete.button': '내 정보 삭제',
    'delete.confirm_text':
      '얼굴 특징 정보, 동의 기록, 본인 확인 코드가 즉시 삭제됩니다. 삭제 후에는 얼굴 인식으로 출입할 수 없습니다. 계속하시겠습니까?',
    'delete.confirm': '네, 삭제합니다',
    'delete.cancel': '취소',
    'delete.deleting': '삭제하고 있습니다…',

    'erased.heading': '정보가 삭제되었습니다',
    'erased.text': '이 초대와 관련된 정보가 삭제되었습니다. 이 링크로는 더 이상 등록할 수 없습니다.',
    'erased.receipt': '삭제 확인서',
    'erased.at': '삭제 일시',
    'erased.items': '삭제된 항목',
    'erased.items_none': '저장된 정보가 더 이상 없었습니다.',
    'item.template': '얼굴 특징 정보(템플릿)',
    'item.consent': '동의 기록',
    'item.claim_code': '본인 확인 코드',
    'item.display_name': '이름',
    'item.email': '이메일 주소',
    'item.invite': '초대 정보',
    'item.idempotency': '업로드 기록',

    'expired.heading': '초대가 만료되었습니다',
    'expired.text': '이 링크는 더 이상 사용할 수 없습니다. 종료된 초대의 얼굴 정보는 자동으로 삭제됩니다.',
    'revoked.heading': '초대가 취소되었습니다',
    'revoked.text': '초대한 분이나 관리자가 이 초대를 취소했으며, 관련 정보는 삭제되었습니다.',
    'invalid.heading': '유효하지 않은 링크입니다',
    'invalid.text': '초대 메시지의 링크를 확인하시거나, 초대한 분께 새 링크를 요청해 주세요.',

    'error.no_face': '얼굴을 찾지 못했습니다. 얼굴 전체가 타원 안에 들어오도록 하고 다시 찍어 주세요.',
    'error.multiple_faces': '사진에 두 사람 이상의 얼굴이 보입니다. 본인만 나오도록 다시 찍어 주세요.',
    'error.face_too_small': '사진 속 얼굴이 너무 작습니다. 휴대전화를 조금 더 가까이 대고 찍어 주세요.',
    'error.too_blurry': '사진이 흐립니다. 휴대전화를 움직이지 말고 다시 찍어 주세요.',
    'error.too_dark': '사진이 너무 어둡습니다. 더 밝은 곳에서 다시 찍어 주세요.',
    'error.overexposed': '사진이 너무 밝습니다. 강한 빛이 얼굴을 비추거나 뒤에서 비치지 않는 곳에서 찍어 주세요.',
    'error.pose_too_far': '고개가 너무 많이 돌아갔습니다. 얼굴이 카메라를 향하도록 하고 살짝만 돌려 주세요.',
    'error.inconsistent_faces': '사진마다 다른 사람처럼 보입니다. 세 장 모두 본인 얼굴로 찍어 주세요.',
    'error.invalid_request': '요청을 처리할 수 없습니다. 페이지를 새로 고친 뒤 다시 시도해 주세요.',
    'error.empty_image': '비어 있는 사진이 있습니다. 다시 찍어 주세요.',
    'error.corrupt_image': '읽을 수 없는 사진이 있습니다. 다시 찍어 주세요.',
    'error.image_too_large': '사진의 화소 수가 너무 많습니다. 이 페이지의 카메라로 다시 찍어 주세요.',
    'error.unsupported_image_format': '지원하지 않는 사진 형식입니다. JPEG, PNG, WebP, HEIC 사진을 사용해 주세요.',
    'error.payload_too_large': '사진 용량이 너무 커서 보낼 수 없습니다(전체 5MB 이하). 다시 찍어 주세요.',
    'error.unsupported_media_type': '서버가 받을 수 없는 형식으로 전송되었습니다. 페이지를 새로 고쳐 주세요.',
    'error.consent_required': '먼저 안내를 읽고 동의해 주세요.',
    'error.consent_version_mismatch': '안내문이 변경되었습니다. 다시 읽어 보신 후 동의해 주세요.',
    'error.conflict': '그사이 등록 정보가 변경되었습니다. 페이지를 새로 고쳐 주세요.',
    'error.idempotency_conflict': '이 사진들은 이미 다른 내용으로 전송되었습니다. 다시 찍어 주세요.',
    'error.invite_expired': '초대가 만료되었습니다.',
    'error.invite_revoked': '초대가 취소되었습니다.',
    'error.invite_erased': '정보를 삭제하셨으므로 이 링크는 더 이상 사용할 수 없습니다.',
    'error.invalid_token': '유효하지 않은 링크입니다.',
    'error.unauthorized': '허용되지 않은 요청입니다.',
    'error.forbidden': '허용되지 않은 작업입니다.',
    'error.not_found': '초대를 찾을 수 없습니다.',
    'error.rate_limited': '시도 횟수가 너무 많습니다. {seconds}초 후에 다시 시도해 주세요.',
    'error.rate_limited_short': '시도 횟수가 너무 많습니다. 잠시 후 다시 시도해 주세요.',
    'error.service_unavailable': '서비스가 혼잡합니다. 잠시 후 다시 시도해 주세요.',
    'error.internal_error': '서버에 문제가 발생했습니다. 다시 시도해 주세요.',
    'error.network': '서버에 연결할 수 없습니다. 인터넷 연결을 확인하고 다시 시도해 주세요.',
    'error.unknown': '예상하지 못한 오류가 발생했습니다({code}). 다시 시도해 주세요.',

    'kiosk.title': '출입문 키오스크',
    'kiosk.settings': '설정',
    'kiosk.settings_heading': '단말기 설정',
    'kiosk.settings_intro': '한 번만 입력하면 이 브라우저에 저장됩니다. 비밀 키는 다시 표시되지 않습니다.',
    'kiosk.api_url': 'API 주소 (비워 두면 이 서버)',
    'kiosk.door_id': '출입문 ID',
    'kiosk.key_id': '단말기 키 ID',
    'kiosk.secret': '단말기 비밀 키',
    'kiosk.secret_saved': '비밀 키가 저장되어 있습니다. 그대로 쓰려면 비워 두세요.',
    'kiosk.auto': '자동 확인',
    'kiosk.liveness': '고개 돌리기 확인 (보안 등급 높음 사이트에서 얼굴만으로 출입할 때 필요)',
    'kiosk.sideways': '좌우로만 돌리기 (위아래 없음: 보안이 약해집니다)',
    'challenge.straight': '카메라를 정면으로 바라봐 주세요',
    'challenge.left': '고개를 왼쪽으로 돌려 주세요',
    'challenge.right': '고개를 오른쪽으로 돌려 주세요',
    'challenge.up': '고개를 위로 들어 주세요',
    'challenge.down': '고개를 아래로 숙여 주세요',
    'kiosk.interval': '확인 간격(초)',
    'kiosk.save': '설정 저장',
    'kiosk.clear': '설정 삭제',
    'kiosk.saved': '설정을 저장했습니다.',
    'kiosk.cleared': '이 브라우저에서 설정을 삭제했습니다.',
    'kiosk.settings_missing': '먼저 설정에서 출입문 ID, 키 ID, 비밀 키를 입력해 주세요.',
    'kiosk.settings_invalid_url': 'API 주소가 올바른 http(s) 주소가 아닙니다.',
    'kiosk.camera_start': '카메라 켜기',
    'kiosk.camera_label': '출입문 카메라 화면',
    'kiosk.prompt': '카메라를 바라보고 버튼을 눌러 주세요. QR 코드가 있으면 얼굴 옆에 들어 주세요.',
    'kiosk.prompt_auto': '카메라를 바라봐 주세요. {seconds}초마다 확인합니다. QR 코드가 있으면 얼굴 옆에 들어 주세요.',
    'kiosk.qr_seen': 'QR 코드를 확인했습니다. 카메라를 계속 바라봐 주세요.',
    'kiosk.verify': '얼굴 확인',
    'kiosk.checking': '확인하고 있습니다…',
    'kiosk.grant': '출입 허가',
    'kiosk.deny': '출입 거부',
    'kiosk.error': '오류',
    'kiosk.wait': '잠시 기다려 주세요',
    'next.grant': '환영합니다. 들어가세요.',
    'next.show_code':
      '얼굴만으로는 등록된 방문자로 확인되지 않았습니다. 등록 페이지의 QR 코드를 얼굴 옆에 들고 카메라에 비춰 주시거나, 아래에 코드를 입력해 주세요.',
    'next.retry': '얼굴이 잘 보이지 않았습니다. 카메라를 정면으로 바라보고 다시 시도해 주세요.',
    'next.see_reception': '안내 데스크로 가 주세요.',
    'hint.lower_mask': '마스크를 잠시 내려 주세요',
    'claimui.offer': 'QR 코드를 비출 수 없으면 등록 페이지에 표시된 8자리 코드를 입력해 주세요:',
    'claimui.input': '본인 확인 코드 (8자리)',
    'claimui.send': '코드로 확인',
    'claimui.invalid': '본인 확인 코드 8자리를 입력해 주세요.',
    'claimui.cancel': '취소',
    'kerror.missing_signature': '요청에 서명이 없습니다(서명 헤더 누락). 설정을 확인해 주세요.',
    'kerror.unknown_key': '알 수 없는 단말기 키 ID입니다. 설정의 키 ID를 확인해 주세요.',
    'kerror.key_revoked': '이 단말기 키는 폐기되었습니다. 관리자에게 새 키를 요청해 주세요.',
    'kerror.clock_skew': '이 기기의 시계가 60초 이상 차이 납니다. 날짜와 시간을 맞춰 주세요.',
    'kerror.nonce_reused': '재전송된 요청으로 거부되었습니다. 다시 시도해 주세요.',
    'kerror.invalid_signature': '서명이 일치하지 않습니다. 설정의 비밀 키를 확인해 주세요.',
    'kerror.door_not_allowed': '이 단말기는 이 출입문을 확인할 수 없습니다. 설정의 출입문 ID를 확인해 주세요.',
    'kerror.cooling_down': '거부된 시도가 너무 많습니다. {seconds}초 기다려 주세요.',
    'kerror.rate_limited': '요청이 너무 많습니다. {seconds}초 기다려 주세요.',
    'kerror.wait': '{seconds}초 기다려 주세요.',
    'kerror.crypto_unavailable': '이 브라우저에서는 요청에 서명할 수 없습니다(WebCrypto는 https 또는 localhost에서만 동작합니다).',
  },
};

const LANGUAGE_STORAGE_KEY = 'facegate.lang';

/** 'ko' when the first Korean or English tag of `languages` is Korean (ko, ko-KR, ...); 'en' otherwise. */
export function pickLanguage(languages) {
  for (const tag of languages || []) {
    const lower = String(tag).toLowerCase();
    if (lower.startsWith('ko')) return 'ko';
    if (lower.startsWith('en')) return 'en';
  }
  return 'en';
}

/** The language saved by the switch, else the browser's preference. */
export function initialLanguage(storageKey = LANGUAGE_STORAGE_KEY) {
  try {
    const saved = window.localStorage.getItem(storageKey);
    if (LANGUAGES.includes(saved)) return saved;
  } catch {
    // Storage may be unavailable (private mode); fall back to the browser's languages.
  }
  return pickLanguage(navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language]);
}

/** Saves the switch's choice (ignored when storage is unavailable). */
export function saveLanguage(lang, storageKey = LANGUAGE_STORAGE_KEY) {
  try {
    window.localStorage.setItem(storageKey, lang);
  } catch {
    // Not saving the preference is harmless.
  }
}

/** The string `key` in `lang` with {name} placeholders replaced from `vars`. */
export function t(lang, key, vars = {}) {
  const table = STRINGS[lang] || STRINGS.en;
  const template = key in table ? table[key] : key in STRINGS.en ? STRINGS.en[key] : key;
  return template.replace(/\{(\w+)\}/g, (match, name) => (name in vars ? String(vars[name]) : match));
}

/** Whether `key` is a known string. */
export function hasString(key) {
  return key in STRINGS.en;
}

/** Applies `lang` to every element under `root` that carries data-i18n attributes. */
export function applyTranslations(lang, root = document) {
  document.documentElement.lang = lang;
  for (const element of root.querySelectorAll('[data-i18n]')) {
    element.textContent = t(lang, element.dataset.i18n);
  }
  for (const [attribute, dataKey] of [
    ['aria-label', 'i18nAriaLabel'],
    ['alt', 'i18nAlt'],
    ['placeholder', 'i18nPlaceholder'],
    ['title', 'i18nTitle'],
  ]) {
    for (const element of root.querySelectorAll(`[data-i18n-${attribute}]`)) {
      element.setAttribute(attribute, t(lang, element.dataset[dataKey]));
    }
  }
}

/** Picks the `lang` text out of server values that may be strings, {en, ko} objects or arrays of them. */
export function localized(lang, value) {
  if (value === null || value === undefined) return '';
  if (Array.isArray(value)) return value.map((item) => localized(lang, item));
  if (typeof value === 'object') {
    if (lang in value) return localized(lang, value[lang]);
    if ('en' in value) return localized(lang, value.en);
    return Object.values(value).map((item) => localized(lang, item)).join(', ');
  }
  return String(value);
}

/** A local, human-readable date and time of an RFC 3339 string. */
export function formatDateTime(lang, iso) {
  const date = new Date(iso);
  if (!iso || Number.isNaN(date.getTime())) return iso ? String(iso) : '';
  return new Intl.DateTimeFormat(lang === 'ko' ? 'ko-KR' : 'en-GB', {
    dateStyle: 'medium',
    timeStyle: 'short',
  }).format(date);
}
